import { errorOf, type RedisSessionsError } from "../errors.js";
import { bool, checkKeys, fail, shown, TOKEN_CHARS } from "../option-checks.js";

/** Options of the session cookie. Its lifetime is not an option: it follows the session's ttl. */
export interface CookieOptions {
  /**
   * The cookie's name, or a function of the app name (give each app its own cookie when `app`
   * is a function and several apps share a host). A `__Host-` name needs `secure: true`,
   * `path: "/"` and no `domain`; a `__Secure-` name needs `secure: true`.
   * @default "rs.sid"
   */
  name?: string | ((app: string) => string) | undefined;
  /** @default "/" */
  path?: string | undefined;
  /** The `Domain` attribute; absent means this host only (the safer choice). */
  domain?: string | undefined;
  /**
   * Hide the cookie from page scripts.
   * @default true
   */
  httpOnly?: boolean | undefined;
  /**
   * `"auto"` sets `Secure` when the request is HTTPS: `req.secure` under Express (so it follows
   * Express's `trust proxy` setting), else a TLS socket. `true` always sets it (browsers still
   * accept it from `http://localhost`).
   * @default "auto"
   */
  secure?: boolean | "auto" | undefined;
  /**
   * The `SameSite` attribute; `false` leaves it out. `"none"` needs `secure` not to be false.
   * @default "lax"
   */
  sameSite?: "lax" | "strict" | "none" | false | undefined;
  /** The `Partitioned` attribute (CHIPS); needs `secure` not to be false. @default false */
  partitioned?: boolean | undefined;
  /** The `Priority` attribute (Chromium). */
  priority?: "low" | "medium" | "high" | undefined;
  /**
   * `false` makes a browser-session cookie (no `Max-Age`): the browser drops it when it closes,
   * and it is never refreshed. Redis still expires the session after `ttl`.
   * @default true
   */
  persistent?: boolean | undefined;
}

/** Cookie options with defaults applied. */
export interface ResolvedCookie {
  name: (app: string) => string;
  path: string;
  domain: string | undefined;
  httpOnly: boolean;
  secure: boolean | "auto";
  sameSite: "lax" | "strict" | "none" | false;
  partitioned: boolean;
  priority: "low" | "medium" | "high" | undefined;
  persistent: boolean;
}

/** The default cookie name. */
export const DEFAULT_COOKIE_NAME = "rs.sid";

const COOKIE_NAMES = new Set([
  "name",
  "path",
  "domain",
  "httpOnly",
  "secure",
  "sameSite",
  "partitioned",
  "priority",
  "persistent",
]);
const LIFETIME = "the cookie's lifetime follows the session's ttl";
const LIFETIME_HINTS = { maxAge: LIFETIME, expires: LIFETIME };
// RFC 6265 path-value: no CTLs and no ";".
const PATH = /^\/[\x20-\x3a\x3c-\x7e]{0,255}$/;
const DOMAIN = /^\.?[0-9A-Za-z]([0-9A-Za-z.-]{0,251}[0-9A-Za-z])?$/;

/** The cookie prefix of RFC 6265bis §4.1.3 that `name` has (browsers match it in any case). */
export function cookiePrefix(name: string): "__Host-" | "__Secure-" | null {
  const head = name.slice(0, 9).toLowerCase();
  if (head.startsWith("__host-")) return "__Host-";
  if (head === "__secure-") return "__Secure-";
  return null;
}

/**
 * Why browsers would drop a cookie of this name with these attributes, or null. `secure: "auto"`
 * passes: the cookie writer then sets Secure for a prefixed name.
 */
function prefixProblem(name: string, c: Omit<ResolvedCookie, "name">): string | null {
  const prefix = cookiePrefix(name);
  if (prefix === "__Host-" && (c.secure === false || c.path !== "/" || c.domain !== undefined)) {
    return 'a __Host- cookie needs Secure, path "/" and no domain';
  }
  if (prefix === "__Secure-" && c.secure === false) return "a __Secure- cookie needs Secure";
  return null;
}

function badName(returned: unknown, why: string): RedisSessionsError {
  return errorOf(
    "ERS_INVALID_COOKIE_NAME",
    `express-redis-sessions: the cookie.name function returned ${shown(returned)}, ${why}`,
  );
}

/**
 * The cookie name of an app. A name returned by a function is checked on each request: one that
 * browsers would drop (a `__Host-` name with a domain, say) fails the request with a typed 500
 * instead of a login that looks successful and is not.
 */
function resolveCookieName(name: unknown, c: Omit<ResolvedCookie, "name">): ResolvedCookie["name"] {
  if (name === undefined) return () => DEFAULT_COOKIE_NAME;
  if (typeof name === "function") {
    const pick = name as (app: string) => unknown;
    return (app) => {
      const value = pick(app);
      if (typeof value !== "string" || !TOKEN_CHARS.test(value)) {
        throw badName(value, "which is not a cookie name (1–64 token characters)");
      }
      const problem = prefixProblem(value, c);
      if (problem) throw badName(value, `but ${problem} (browsers drop it otherwise)`);
      return value;
    };
  }
  if (typeof name !== "string" || !TOKEN_CHARS.test(name)) {
    fail("cookie.name", "a cookie name (1–64 token characters) or a function", name);
  }
  checkPrefix(name, c);
  return () => name;
}

/** Applies defaults to the `cookie` option and checks it; `false` turns cookies off. */
export function resolveCookie(cookie: unknown): ResolvedCookie | false {
  if (cookie === false) return false;
  if (cookie === undefined) cookie = {};
  if (typeof cookie !== "object" || cookie === null || Array.isArray(cookie)) {
    fail("cookie", "false or an object of cookie options", cookie);
  }
  checkKeys(cookie, COOKIE_NAMES, "cookie.", LIFETIME_HINTS);
  const c = cookie as CookieOptions;
  const path = c.path ?? "/";
  if (typeof path !== "string" || !PATH.test(path)) fail("cookie.path", 'a path like "/"', path);
  if (c.domain !== undefined && (typeof c.domain !== "string" || !DOMAIN.test(c.domain))) {
    fail("cookie.domain", "a domain name", c.domain);
  }
  const secure = c.secure ?? "auto";
  if (secure !== true && secure !== false && secure !== "auto") {
    fail("cookie.secure", 'true, false or "auto"', secure);
  }
  const sameSite = c.sameSite ?? "lax";
  if (sameSite !== "lax" && sameSite !== "strict" && sameSite !== "none" && sameSite !== false) {
    fail("cookie.sameSite", '"lax", "strict", "none" or false', sameSite);
  }
  // Browsers reject SameSite=None and Partitioned cookies without Secure.
  if (sameSite === "none" && secure === false) {
    fail("cookie.secure", 'true or "auto" with sameSite "none"', secure);
  }
  const partitioned = bool(c.partitioned, "cookie.partitioned", false);
  if (partitioned && secure === false) {
    fail("cookie.secure", 'true or "auto" with partitioned', secure);
  }
  const priority = c.priority;
  if (
    priority !== undefined &&
    priority !== "low" &&
    priority !== "medium" &&
    priority !== "high"
  ) {
    fail("cookie.priority", '"low", "medium" or "high"', priority);
  }
  const attributes: Omit<ResolvedCookie, "name"> = {
    path,
    domain: c.domain,
    httpOnly: bool(c.httpOnly, "cookie.httpOnly", true),
    secure,
    sameSite,
    partitioned,
    priority,
    persistent: bool(c.persistent, "cookie.persistent", true),
  };
  return { name: resolveCookieName(c.name, attributes), ...attributes };
}

// The cookie prefixes of RFC 6265bis §4.1.3: browsers silently drop cookies that break them.
// A name given as a string is checked at setup, strictly: `secure` must be true, not "auto".
function checkPrefix(name: string, c: Omit<ResolvedCookie, "name">): void {
  const prefix = cookiePrefix(name);
  if (!prefix) return;
  const host = prefix === "__Host-";
  if (c.secure !== true) fail("cookie.secure", `true for a ${prefix} cookie name`, c.secure);
  if (host && c.path !== "/") fail("cookie.path", '"/" for a __Host- cookie name', c.path);
  if (host && c.domain !== undefined) {
    fail("cookie.domain", "absent for a __Host- cookie name", c.domain);
  }
}
