import type { IncomingMessage, ServerResponse } from "node:http";
import { debuglog } from "node:util";
import { clientIp } from "../client-ip.js";
import { isStoreError } from "../errors.js";
import { createdSession } from "../layouts/reply.js";
import type { RedisSessions } from "../store/store.js";
import type { DataPatch, DefaultData, Seconds, Session, SessionWithToken } from "../types.js";
import { validApp, validData, validId, validTtl } from "../validate.js";
import type { RequestSessionInit, SessionContext, UpsertOptions } from "./context.js";
import { readMovedActivity } from "./cookie-lifetime.js";
import type { TokenSource } from "./read-token.js";
import type { SessionCookie } from "./session-cookie.js";

const debug = debuglog("express-redis-sessions");
const BRAND = Symbol.for("express-redis-sessions.request-session");
const DEFAULT_DELTA_TIME = 600;

/** True for a {@link RequestSession}, even from another copy of this package. */
export function isRequestSession(value: unknown): value is RequestSession<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true
  );
}

/**
 * The session of one request, as `req.rs`. Nothing touches Redis until a method is called;
 * `get()` asks Redis at most once per request, and writes keep that answer current. Every
 * method rejects with a `RedisSessionsError` (status 503) when Redis fails, except `get()` under
 * `onStoreError: "anonymous"`, which then resolves null.
 */
export class RequestSession<D = DefaultData> {
  /** The app of this request, or null when the `app` function gave none. */
  readonly app: string | null;
  /** Where the request's token came from (cookie, header or bearer), or null if it had none. */
  readonly source: TokenSource | null;
  /** The store, for operations on other sessions (e.g. an admin ending a user's sessions). */
  readonly store: RedisSessions<D>;
  private currentToken: string | null;
  private currentId: string | null = null;
  private loading: Promise<Session<D> | null> | undefined;
  /** True while `loading` holds the null of an "anonymous" store failure. */
  private degraded = false;
  private loadedAt = 0;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly ctx: SessionContext<D>;
  private readonly cookie: SessionCookie | null;

  constructor(init: RequestSessionInit<D>) {
    this.req = init.req;
    this.res = init.res;
    this.ctx = init.context;
    this.cookie = init.cookie;
    this.app = init.app;
    this.store = init.context.store;
    this.source = init.found.source;
    this.currentToken = init.found.token;
  }

  /**
   * The session token: the one the request carried (well-formed, not yet checked against Redis),
   * or the one `upsert`/`rotate` issued. Null when there is none, or once Redis said it is
   * unknown or expired, or after `kill`.
   */
  get token(): string | null {
    return this.currentToken;
  }

  /** The user id, once the session has been read or created; else null. */
  get id(): string | null {
    return this.currentId;
  }

  /** The session, or null when there is none (no token, unknown or expired token). */
  get(): Promise<Session<D> | null> {
    return this.load(false);
  }

  /**
   * Logs `id` in. With no valid session, or a session of another user, it creates a session
   * with a new token and kills the old one (so a token planted before login is worthless);
   * for the same user it merges `d` into the session (`set`). Sets the cookie for a new
   * session when cookies are on. Resolves to the session.
   */
  async upsert(
    id: string | number,
    d?: Partial<D> | DataPatch<D>,
    options: UpsertOptions = {},
  ): Promise<Session<D>> {
    const app = validApp(this.app);
    const userId = validId(id);
    const ttl = validTtl(options.ttl, this.ctx.options.ttl);
    const noResave = options.no_resave ?? this.ctx.options.noResave;
    const data = d && Object.keys(d).length > 0 ? d : undefined;
    if (data) {
      const { maxDataBytes, maxDataKeys } = this.store.options;
      validData(data, { maxBytes: maxDataBytes, maxKeys: maxDataKeys });
    }
    this.assertCanSetCookie("upsert");
    const current = await this.load(true);
    if (current && current.id === userId) {
      if (!data) return current;
      const updated = await this.set(data);
      if (updated) return updated;
      // The session ended between the two calls: log in afresh below.
    } else if (current && this.currentToken) {
      await this.store.kill({ app, token: this.currentToken });
      this.forget();
    }
    const ip = clientIp(this.req);
    const { token } = await this.store.create({
      app,
      id: userId,
      ip,
      ttl,
      d: data,
      no_resave: noResave,
    });
    const session = createdSession<D>(userId, ip, ttl, noResave, data);
    this.adopt(token, session);
    this.issueCookie(token, session);
    return session;
  }

  /**
   * Merges `d` into the session's data (`null` deletes a key; other keys are kept). Resolves to
   * the updated session, or null when there is no session.
   */
  async set(d: DataPatch<D> | Partial<D>): Promise<Session<D> | null> {
    const app = this.app;
    const token = this.currentToken;
    if (!app || !token) return null;
    const session = await this.store.set({ app, token, d: d as DataPatch<D> });
    if (!session) {
      this.lost();
      return null;
    }
    this.adopt(token, session);
    this.roll(session);
    return session;
  }

  /** Logs out: ends this session and clears the cookie. `{kill: 1}` if a session ended. */
  async kill(): Promise<{ kill: number }> {
    const app = this.app;
    const token = this.currentToken;
    const result = app && token ? await this.store.kill({ app, token }) : { kill: 0 };
    this.forget();
    this.clearCookie();
    return result;
  }

  /**
   * Gives the session a new token (same user, data and counters); the old token is dead at
   * once. Refreshes the cookie when the token came from it. Resolves to the new token, or null
   * when there is no session.
   */
  async rotate(): Promise<string | null> {
    const app = this.app;
    if (!app || !this.currentToken) return null;
    const viaCookie = this.source === "cookie" || this.cookie?.sent === true;
    if (viaCookie) this.assertCanSetCookie("rotate");
    const current = await this.load(true);
    const token = this.currentToken;
    if (!current || !token) return null;
    const next = await this.store.rotate({ app, token });
    if (!next) {
      this.lost();
      return null;
    }
    this.currentToken = next.token;
    if (viaCookie) this.issueCookie(next.token, current);
    return next.token;
  }

  /** The live sessions of this session's user (its devices), each with its token. */
  async soid(): Promise<{ sessions: SessionWithToken<D>[] }> {
    const current = await this.load(true);
    if (!current || !this.app) return { sessions: [] };
    return this.store.soid({ app: this.app, id: current.id });
  }

  /** Logs this session's user out everywhere: ends all their sessions and clears the cookie. */
  async killsoid(): Promise<{ kill: number }> {
    const current = await this.load(true);
    if (!current || !this.app) return { kill: 0 };
    const result = await this.store.killsoid({ app: this.app, id: current.id });
    this.forget();
    this.clearCookie();
    return result;
  }

  /** The number of users of this app active in the last `deltaTime` seconds (default 600). */
  async activity(deltaTime: Seconds = DEFAULT_DELTA_TIME): Promise<{ activity: number }> {
    return this.store.activity({ app: validApp(this.app), deltaTime });
  }

  /** The sessions of this app active in the last `deltaTime` seconds (default 600). */
  async soapp(
    deltaTime: Seconds = DEFAULT_DELTA_TIME,
  ): Promise<{ sessions: SessionWithToken<D>[] }> {
    return this.store.soapp({ app: validApp(this.app), deltaTime });
  }

  private load(strict: boolean): Promise<Session<D> | null> {
    // A write needs the truth: it retries a read that an "anonymous" failure answered with null.
    if (this.loading && !(strict && this.degraded)) return this.loading;
    this.degraded = false;
    const loading = this.fetch(strict);
    this.loading = loading;
    // A failed read is not remembered, so a later call may try again.
    loading.catch(() => {
      if (this.loading === loading) this.loading = undefined;
    });
    return loading;
  }

  private async fetch(strict: boolean): Promise<Session<D> | null> {
    const app = this.app;
    const token = this.currentToken;
    if (!app || !token) return null;
    let session: Session<D> | null;
    try {
      session = await this.store.get({ app, token });
    } catch (err) {
      if (strict || this.ctx.options.onStoreError !== "anonymous" || !isStoreError(err)) throw err;
      debug("store failed; request treated as anonymous: %s", (err as Error).message);
      this.degraded = true;
      return null;
    }
    if (token !== this.currentToken) return session;
    if (!session) {
      this.lost();
      return null;
    }
    this.currentId = session.id;
    this.loadedAt = this.ctx.now();
    if (readMovedActivity(session, this.ctx.lifetime)) this.roll(session);
    return session;
  }

  private adopt(token: string, session: Session<D>): void {
    this.currentToken = token;
    this.currentId = session.id;
    this.loading = Promise.resolve(session);
    this.degraded = false;
    this.loadedAt = this.ctx.now();
  }

  /** Redis does not know the token (any more): no session, and the browser may drop it. */
  private lost(): void {
    this.forget();
    this.clearCookie();
  }

  private forget(): void {
    this.currentToken = null;
    this.currentId = null;
    this.loading = Promise.resolve(null);
    this.degraded = false;
  }

  /** Refreshes the cookie after a read or write of a cookie session, when the rule says so. */
  private roll(session: Session<D>): void {
    if (this.source !== "cookie" || !this.currentToken) return;
    this.cookie?.roll(this.currentToken, session as Session<unknown>, this.ctx.now());
  }

  private issueCookie(token: string, session: Session<D>): void {
    this.cookie?.issue(token, session as Session<unknown>, this.ctx.now() - this.loadedAt);
  }

  private clearCookie(): void {
    this.cookie?.clear();
  }

  private assertCanSetCookie(method: string): void {
    if (this.ctx.options.cookie && this.res.headersSent) {
      throw new Error(
        `express-redis-sessions: req.rs.${method}() needs to set the session cookie, but the ` +
          "response headers were already sent; call it before writing the response",
      );
    }
  }
}

// The brand lives on the prototype: one property for all instances, checked by isRequestSession.
Object.defineProperty(RequestSession.prototype, BRAND, { value: true });
