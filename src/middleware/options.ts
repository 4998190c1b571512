import type { IncomingMessage } from "node:http";
import { bool, checkKeys, fail, shown, TOKEN_CHARS } from "../option-checks.js";
import type { StoreOptions } from "../store/options.js";
import type { RedisSessions } from "../store/store.js";
import type { DefaultData, Seconds } from "../types.js";
import { isAppName, MAX_TTL } from "../validate.js";
import {
  type CookieOptions,
  DEFAULT_COOKIE_NAME,
  type ResolvedCookie,
  resolveCookie,
} from "./cookie-options.js";

/** What to do when Redis fails while a request reads its session. */
export type StoreErrorPolicy = "error" | "anonymous";

/** Options of {@link redisSessions}. */
export interface MiddlewareOptions<D = DefaultData> {
  /**
   * The app name (3–20 of `[A-Za-z0-9_-]`), or a function that picks it per request. A function
   * that returns null, undefined or an invalid name gives that request no session.
   */
  app: string | ((req: IncomingMessage) => string | null | undefined);
  /**
   * A {@link RedisSessions} store (shared, and closed by you), or the options to create one
   * (then `middleware.store.quit()` closes it).
   * @default a store on 127.0.0.1:6379
   */
  store?: RedisSessions<D> | StoreOptions | undefined;
  /**
   * Idle timeout of sessions created by `upsert`, in seconds: an integer from 10 to 315360000
   * (ten years).
   * @default 7200
   */
  ttl?: Seconds | undefined;
  /**
   * An absolute timeout for sessions created by `upsert`: they end this many seconds after
   * login, however active (an integer from 10 to 315360000), beside the idle `ttl`, whichever
   * comes first. No client (redis-sessions 4 included) can keep such a session alive past it.
   * @default none (only the idle timeout)
   */
  absolute?: Seconds | undefined;
  /**
   * Give new sessions an absolute lifetime (`ttl` from login) instead of an idle timeout.
   * @default false
   */
  no_resave?: boolean | undefined;
  /** Cookie options, or `false` for no cookie (header or bearer tokens only). */
  cookie?: CookieOptions | false | undefined;
  /**
   * A request header that may carry the token, or `false`.
   * @default "x-session-token"
   */
  header?: string | false | undefined;
  /**
   * Accept `Authorization: Bearer <token>`.
   * @default true
   */
  bearer?: boolean | undefined;
  /**
   * `"error"`: `req.rs.get()` rejects with a `RedisSessionsError` of status 503 when Redis fails
   * (Express 5 passes it to `next`). `"anonymous"`: `get()` resolves null instead, so the user
   * is treated as logged out while Redis is down. Writes (`upsert`, `set`, `kill`, …) reject in
   * both cases, and no cookie is ever set or cleared because of a failure.
   * @default "error"
   */
  onStoreError?: StoreErrorPolicy | undefined;
}

/** Middleware options with defaults applied (the store is resolved separately). */
export interface ResolvedMiddlewareOptions {
  app: (req: IncomingMessage) => string | null;
  ttl: Seconds;
  absolute: Seconds | undefined;
  noResave: boolean;
  cookie: ResolvedCookie | false;
  header: string | false;
  bearer: boolean;
  onStoreError: StoreErrorPolicy;
}

/** Defaults, in one place. */
export const MIDDLEWARE_DEFAULTS = {
  ttl: 7200,
  cookieName: DEFAULT_COOKIE_NAME,
  header: "x-session-token",
  bearer: true,
  onStoreError: "error",
} as const;

const OPTION_NAMES = new Set([
  "app",
  "store",
  "ttl",
  "absolute",
  "no_resave",
  "cookie",
  "header",
  "bearer",
  "onStoreError",
]);

/** True for an absolute timeout: an integer number of seconds from 10 to ten years. */
function isAbsolute(value: unknown): value is Seconds {
  return (
    typeof value === "number" && Number.isSafeInteger(value) && value >= 10 && value <= MAX_TTL
  );
}

function resolveApp(app: unknown): ResolvedMiddlewareOptions["app"] {
  if (typeof app === "function") {
    const pick = app as (req: IncomingMessage) => unknown;
    return (req) => {
      const name = pick(req);
      // Often derived from the URL, so a bad name is the client's doing: no session, no error.
      return isAppName(name) ? name : null;
    };
  }
  if (typeof app !== "string" || !isAppName(app)) {
    fail("app", "3–20 of [A-Za-z0-9_-], or a function of the request", app);
  }
  return () => app;
}

function resolveHeader(header: unknown): string | false {
  if (header === undefined) return MIDDLEWARE_DEFAULTS.header;
  if (header === false) return false;
  if (typeof header !== "string" || !TOKEN_CHARS.test(header)) {
    fail("header", "a header name or false", header);
  }
  const lower = header.toLowerCase();
  // These carry other things; the bearer option covers Authorization.
  if (lower === "cookie" || lower === "authorization" || lower === "set-cookie") {
    fail("header", 'a header other than "cookie" and "authorization"', header);
  }
  return lower;
}

/**
 * Applies defaults and checks every option except `store`, without touching the caller's
 * object. Throws a `TypeError` that names the first bad option.
 */
export function resolveMiddlewareOptions(options: unknown): ResolvedMiddlewareOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `express-redis-sessions: options must be an object with at least "app" (received ${shown(options)})`,
    );
  }
  checkKeys(options, OPTION_NAMES, "");
  const o = options as MiddlewareOptions;
  const ttl = o.ttl ?? MIDDLEWARE_DEFAULTS.ttl;
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl < 10) {
    fail("ttl", "an integer number of seconds >= 10", ttl);
  }
  if (ttl > MAX_TTL) fail("ttl", `at most ${MAX_TTL} seconds (ten years)`, ttl);
  const onStoreError = o.onStoreError ?? MIDDLEWARE_DEFAULTS.onStoreError;
  if (onStoreError !== "error" && onStoreError !== "anonymous") {
    fail("onStoreError", '"error" or "anonymous"', onStoreError);
  }
  if (o.absolute !== undefined && !isAbsolute(o.absolute)) {
    fail("absolute", `an integer number of seconds from 10 to ${MAX_TTL}`, o.absolute);
  }
  const cookie = resolveCookie(o.cookie);
  const header = resolveHeader(o.header);
  const bearer = bool(o.bearer, "bearer", MIDDLEWARE_DEFAULTS.bearer);
  if (cookie === false && header === false && !bearer) {
    fail("cookie", "enabled unless a header or bearer tokens are", false);
  }
  return {
    app: resolveApp(o.app),
    ttl,
    absolute: o.absolute,
    noResave: bool(o.no_resave, "no_resave", false),
    cookie,
    header,
    bearer,
    onStoreError,
  };
}
