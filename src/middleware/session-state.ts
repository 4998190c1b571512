import type { IncomingMessage, ServerResponse } from "node:http";
import { debuglog } from "node:util";
import { clientIp } from "../client-ip.js";
import { isStoreError } from "../errors.js";
import type { RedisSessions } from "../store/store.js";
import type { DefaultData, Seconds, Session } from "../types.js";
import { validUa } from "../validate-account.js";
import type { RequestSessionInit, SessionContext } from "./context.js";
import { readMovedActivity } from "./cookie-lifetime.js";
import type { TokenSource } from "./read-token.js";
import type { SessionCookie } from "./session-cookie.js";

const debug = debuglog("express-redis-sessions");

/**
 * What one request knows of its session (the token, the one read of Redis, the cookie), apart
 * from the methods apps call ({@link RequestSession} adds those).
 */
export class SessionState<D = DefaultData> {
  /** The app of this request, or null when the `app` function gave none. */
  readonly app: string | null;
  /** Where the request's token came from (cookie, header or bearer), or null if it had none. */
  readonly source: TokenSource | null;
  /** The store, for operations on other sessions (e.g. an admin ending a user's sessions). */
  readonly store: RedisSessions<D>;
  protected currentToken: string | null;
  protected currentId: string | null = null;
  private loading: Promise<Session<D> | null> | undefined;
  /** True while `loading` holds the null of an "anonymous" store failure. */
  private degraded = false;
  private loadedAt = 0;
  protected readonly req: IncomingMessage;
  protected readonly res: ServerResponse;
  protected readonly ctx: SessionContext<D>;
  protected readonly cookie: SessionCookie | null;

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

  /** Unix seconds on the store's clock (a fake one in tests), as the guards compare them. */
  clock(): Seconds {
    return this.ctx.now();
  }

  /** The client's address and user agent, as new sessions record them. */
  protected client(): { ip: string; ua: string | undefined } {
    const ua = this.req.headers["user-agent"];
    // Cut as the store cuts it (512 code units), so the session returned matches later reads.
    return { ip: clientIp(this.req), ua: typeof ua === "string" ? validUa(ua) : undefined };
  }

  protected load(strict: boolean): Promise<Session<D> | null> {
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
      // The request's ip: the store records it as the last one when the read refreshes activity.
      session = await this.store.get({ app, token, ip: clientIp(this.req) });
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

  protected adopt(token: string, session: Session<D>): void {
    this.currentToken = token;
    this.currentId = session.id;
    this.loading = Promise.resolve(session);
    this.degraded = false;
    this.loadedAt = this.ctx.now();
  }

  /** Redis does not know the token (any more): no session, and the browser may drop it. */
  protected lost(): void {
    this.forget();
    this.clearCookie();
  }

  protected forget(): void {
    this.currentToken = null;
    this.currentId = null;
    this.loading = Promise.resolve(null);
    this.degraded = false;
  }

  /** Refreshes the cookie after a read or write of a cookie session, when the rule says so. */
  protected roll(session: Session<D>): void {
    if (this.source !== "cookie" || !this.currentToken) return;
    this.cookie?.roll(this.currentToken, session as Session<unknown>, this.ctx.now());
  }

  protected issueCookie(token: string, session: Session<D>): void {
    this.cookie?.issue(token, session as Session<unknown>, this.ctx.now() - this.loadedAt);
  }

  protected clearCookie(): void {
    this.cookie?.clear();
  }

  protected assertCanSetCookie(method: string): void {
    if (this.ctx.options.cookie && this.res.headersSent) {
      throw new Error(
        `express-redis-sessions: req.rs.${method}() needs to set the session cookie, but the ` +
          "response headers were already sent; call it before writing the response",
      );
    }
  }
}
