import { errorOf } from "../errors.js";
import { sessionHandle } from "../handle.js";
import { createdSession } from "../layouts/reply.js";
import type {
  DataPatch,
  DefaultData,
  Seconds,
  Session,
  SessionEntry,
  SessionPage,
} from "../types.js";
import { validApp, validData, validId, validTtl } from "../validate.js";
import { validAbsolute, validHandle } from "../validate-account.js";
import type { RotateOptions, UpsertOptions } from "./context.js";
import { type Device, toDevices } from "./devices.js";
import { SessionState } from "./session-state.js";

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
export class RequestSession<D = DefaultData> extends SessionState<D> {
  /** The CSRF token read in this request, with the session token it belongs to. */
  private csrf: { token: string; value: string } | undefined;

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
    const absolute = validAbsolute(options.absolute) ?? this.ctx.options.absolute;
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
    const { ip, ua } = this.client();
    const { token } = await this.store.create({
      app,
      id: userId,
      ip,
      ua,
      ttl,
      absolute,
      d: data,
      no_resave: noResave,
    });
    const now = Math.floor(this.clock());
    const session: Session<D> = {
      ...createdSession<D>(userId, ip, ttl, noResave, data),
      created: now,
      auth: now,
      ...(absolute === undefined ? {} : { expires: now + absolute }),
      ...(ua === undefined ? {} : { ua }),
    };
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
   * Gives the session a new token (same user, data and counters). The old token keeps working
   * for `grace` seconds (0 to 3600, default 0: dead at once), so that requests already in
   * flight with it still succeed. Refreshes the cookie when the token came from it. Resolves to
   * the new token, or null when there is no session.
   */
  async rotate(options: RotateOptions = {}): Promise<string | null> {
    const app = this.app;
    if (!app || !this.currentToken) return null;
    const viaCookie = this.source === "cookie" || this.cookie?.sent === true;
    if (viaCookie) this.assertCanSetCookie("rotate");
    const current = await this.load(true);
    const token = this.currentToken;
    if (!current || !token) return null;
    const grace = options.grace;
    const next = await this.store.rotate(
      grace === undefined ? { app, token } : { app, token, grace },
    );
    if (!next) {
      this.lost();
      return null;
    }
    this.currentToken = next.token;
    if (viaCookie) this.issueCookie(next.token, current);
    return next.token;
  }

  /**
   * The sessions of this session's user, most recently active first, this one flagged
   * `current`: what a "your devices" page shows. Never a token; each has a `handle` for
   * {@link revoke}. Empty when there is no session.
   */
  async devices(): Promise<Device[]> {
    const current = await this.load(true);
    const token = this.currentToken;
    if (!current || !token || !this.app) return [];
    const { sessions } = await this.store.soid({ app: this.app, id: current.id });
    return toDevices(sessions, sessionHandle(token), this.clock());
  }

  /**
   * Ends the session of `handle` if it is one of this user's (this one included: then it is a
   * logout, and the cookie is cleared). Resolves true when a session ended; false when there is
   * no session, or the handle is unknown or another user's (nothing is killed then).
   *
   * @throws {RedisSessionsError} `ERS_INVALID_HANDLE` when `handle` is not shaped like one.
   */
  async revoke(handle: string): Promise<boolean> {
    validHandle(handle);
    const current = await this.load(true);
    const token = this.currentToken;
    if (!current || !token || !this.app) return false;
    if (handle === sessionHandle(token)) return (await this.kill()).kill > 0;
    const { kill } = await this.store.kill({ app: this.app, id: current.id, handle });
    return kill > 0;
  }

  /**
   * Ends every other session of this user ("log out the other devices"); resolves their count.
   * Walks the user's sessions a page at a time and kills each by its token, so the work grows
   * with their number, once.
   */
  async revokeOthers(): Promise<number> {
    const current = await this.load(true);
    const app = this.app;
    const token = this.currentToken;
    if (!current || !app || !token) return 0;
    let count = 0;
    let cursor: string | null = null;
    do {
      const page: SessionPage<D> = await this.store.soid({
        app,
        id: current.id,
        limit: 100,
        cursor,
      });
      const others = page.sessions.filter((s) => s.token !== token);
      const kills = await Promise.all(others.map((s) => this.store.kill({ app, token: s.token })));
      for (const { kill } of kills) count += kill;
      cursor = page.cursor;
    } while (cursor !== null);
    return count;
  }

  /**
   * Records that the user just proved who they are (a password prompt, say): the session's
   * `auth` becomes now, which {@link requireFresh} checks. Resolves to the session, or null
   * when there is none.
   */
  async reauthenticated(): Promise<Session<D> | null> {
    const app = this.app;
    const token = this.currentToken;
    if (!app || !token) return null;
    const session = await this.store.reauthenticated({ app, token });
    if (!session) {
      this.lost();
      return null;
    }
    this.adopt(token, session);
    return session;
  }

  /**
   * The session's CSRF token (random, made at login, the same for the session's life): put it
   * in forms as `_csrf` or send it as `x-csrf-token`; {@link verifyCsrf} checks it.
   *
   * @throws {RedisSessionsError} `ERS_NO_SESSION` (401) when there is no session.
   */
  async csrfToken(): Promise<string> {
    const app = this.app;
    const token = this.currentToken;
    if (this.csrf && this.csrf.token === token) return this.csrf.value;
    if (!app || !token) throw errorOf("ERS_NO_SESSION", "No session: log in");
    const cs = await this.store.csrfToken({ app, token });
    if (cs === null) {
      this.lost();
      throw errorOf("ERS_NO_SESSION", "No session: log in");
    }
    this.csrf = { token, value: cs };
    return cs;
  }

  /** The live sessions of this session's user (its devices), each with its token. */
  async soid(): Promise<{ sessions: SessionEntry<D>[] }> {
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
  async soapp(deltaTime: Seconds = DEFAULT_DELTA_TIME): Promise<{ sessions: SessionEntry<D>[] }> {
    return this.store.soapp({ app: validApp(this.app), deltaTime });
  }
}

// The brand lives on the prototype: one property for all instances, checked by isRequestSession.
Object.defineProperty(RequestSession.prototype, BRAND, { value: true });
