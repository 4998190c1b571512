import type { IncomingMessage, ServerResponse } from "node:http";
import type { RedisSessions } from "../store/store.js";
import type { Seconds } from "../types.js";
import type { LifetimeContext } from "./cookie-lifetime.js";
import type { ResolvedMiddlewareOptions } from "./options.js";
import type { FoundToken } from "./read-token.js";
import type { SessionCookie } from "./session-cookie.js";

/** Per-call options of {@link RequestSession.upsert}; they apply to new sessions only. */
export interface UpsertOptions {
  /** Idle timeout in seconds (an integer from 10 to ten years). @default the middleware's `ttl` */
  ttl?: Seconds | undefined;
  /**
   * The session ends this many seconds after login, however active it is (an integer from 10
   * to ten years); beside `ttl`, whichever comes first. @default the middleware's `absolute`
   */
  absolute?: Seconds | undefined;
  /** An absolute lifetime instead of an idle timeout. @default the middleware's `no_resave` */
  no_resave?: boolean | undefined;
}

/** Options of {@link RequestSession.rotate}. */
export interface RotateOptions {
  /**
   * Seconds (an integer from 0 to 3600) during which the old token still reaches the session,
   * for requests already in flight with it. @default 0 (dead at once)
   */
  grace?: Seconds | undefined;
}

/** What one request's session is made of. */
export interface RequestSessionInit<D> {
  req: IncomingMessage;
  res: ServerResponse;
  context: SessionContext<D>;
  /** The app of this request, or null when the `app` function gave none. */
  app: string | null;
  /** The token the request carried, and where it came from. */
  found: FoundToken;
  /** The session cookie of this request; null when cookies are off or there is no app. */
  cookie: SessionCookie | null;
}

/** What every request of one middleware shares. */
export interface SessionContext<D> {
  store: RedisSessions<D>;
  options: ResolvedMiddlewareOptions;
  lifetime: LifetimeContext;
  /** Unix seconds on the store's clock when it has one (tests), else this machine's. */
  now: () => Seconds;
}

/** What every request of one middleware instance shares. */
export function contextOf<D>(
  store: RedisSessions<D>,
  options: ResolvedMiddlewareOptions,
): SessionContext<D> {
  const { clock, cachetime, timeout, touchAfter } = store.options;
  const now: () => Seconds = clock ? () => clock() : () => Date.now() / 1000;
  const lifetime: LifetimeContext = { cachetime, timeoutMs: timeout, touchAfter, now };
  return { store, options, lifetime, now };
}
