import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { type SerializeOptions, stringifySetCookie } from "cookie";
import type { ResolvedCookie } from "./cookie-options.js";
import type { Seconds } from "./types.js";

/** True when the request arrived over HTTPS, as far as the app can tell. */
export function isSecureRequest(req: IncomingMessage): boolean {
  // Express defines req.secure from the protocol and its "trust proxy" setting: defer to it, so
  // X-Forwarded-Proto counts exactly when the app trusts its proxy.
  const secure = (req as { secure?: unknown }).secure;
  if (typeof secure === "boolean") return secure;
  return (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/**
 * Browsers drop a cookie without `Secure` when its name has a `__Secure-`/`__Host-` prefix, or
 * when it is `SameSite=None` or partitioned: then "auto" must mean Secure, or the login would
 * "succeed" without a cookie. (A name given as a string is checked at setup; one returned by a
 * function is only known here.)
 */
function mustBeSecure(cookie: ResolvedCookie, name: string): boolean {
  return (
    name.startsWith("__Secure-") ||
    name.startsWith("__Host-") ||
    cookie.sameSite === "none" ||
    cookie.partitioned
  );
}

function attributes(cookie: ResolvedCookie, req: IncomingMessage, name: string): SerializeOptions {
  const secure =
    cookie.secure === "auto" ? mustBeSecure(cookie, name) || isSecureRequest(req) : cookie.secure;
  const options: SerializeOptions = { path: cookie.path, httpOnly: cookie.httpOnly, secure };
  if (cookie.sameSite !== false) options.sameSite = cookie.sameSite;
  if (cookie.domain !== undefined) options.domain = cookie.domain;
  if (cookie.partitioned) options.partitioned = true;
  if (cookie.priority !== undefined) options.priority = cookie.priority;
  return options;
}

/**
 * The `Set-Cookie` line that gives the browser `token` for `maxAge` seconds, or for the browser
 * session when `maxAge` is undefined. `Expires` is sent too, for clients that ignore `Max-Age`.
 */
export function sessionCookie(
  cookie: ResolvedCookie,
  name: string,
  req: IncomingMessage,
  token: string,
  maxAge: Seconds | undefined,
): string {
  const options = attributes(cookie, req, name);
  if (maxAge !== undefined) {
    options.maxAge = maxAge;
    options.expires = new Date(Date.now() + maxAge * 1000);
  }
  return stringifySetCookie(name, token, options);
}

/** The `Set-Cookie` line that deletes the cookie (same name, path and domain, empty, expired). */
export function clearingCookie(cookie: ResolvedCookie, name: string, req: IncomingMessage): string {
  const options = attributes(cookie, req, name);
  options.maxAge = 0;
  options.expires = new Date(0);
  return stringifySetCookie(name, "", options);
}

/**
 * Adds a `Set-Cookie` line to the response, keeping every line set by others (it appends, never
 * replaces), and drops `previous`, the line this request set before, so that a login followed by
 * a rotation sends one cookie, not two. Marks the response `Cache-Control: no-store`, so that no
 * shared cache stores (and replays) a response that hands out a session. Returns false when the
 * headers are already sent.
 */
export function writeSetCookie(res: ServerResponse, line: string, previous?: string): boolean {
  if (res.headersSent) return false;
  const current = res.getHeader("set-cookie");
  let lines: string[];
  if (current === undefined) lines = [];
  else if (Array.isArray(current)) lines = [...current];
  else lines = [String(current)];
  if (previous !== undefined) {
    const at = lines.lastIndexOf(previous);
    if (at >= 0) lines.splice(at, 1);
  }
  lines.push(line);
  res.setHeader("Set-Cookie", lines);
  res.setHeader("Cache-Control", "no-store");
  return true;
}
