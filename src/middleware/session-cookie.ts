import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { debuglog } from "node:util";
import { type SetCookie, stringifySetCookie } from "cookie";
import type { Seconds, Session } from "../types.js";
import { cookieMaxAge, type LifetimeContext, needsRefresh } from "./cookie-lifetime.js";
import { cookiePrefix, type ResolvedCookie } from "./cookie-options.js";

const debug = debuglog("express-redis-sessions");

/*
 * The session cookie: its attributes, the Set-Cookie lines, and when one request sends them.
 * How long it lives and when it is refreshed is the rule in cookie-lifetime.ts.
 */

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
 * "succeed" without a cookie. (Names are checked against the other attributes in
 * cookie-options.ts: at setup for a string, on each request for a function.)
 */
function mustBeSecure(cookie: ResolvedCookie, name: string): boolean {
  return cookiePrefix(name) !== null || cookie.sameSite === "none" || cookie.partitioned;
}

function setCookie(
  cookie: ResolvedCookie,
  req: IncomingMessage,
  name: string,
  value: string,
): SetCookie {
  const secure =
    cookie.secure === "auto" ? mustBeSecure(cookie, name) || isSecureRequest(req) : cookie.secure;
  const line: SetCookie = { name, value, path: cookie.path, httpOnly: cookie.httpOnly, secure };
  if (cookie.sameSite !== false) line.sameSite = cookie.sameSite;
  if (cookie.domain !== undefined) line.domain = cookie.domain;
  if (cookie.partitioned) line.partitioned = true;
  if (cookie.priority !== undefined) line.priority = cookie.priority;
  return line;
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
  const line = setCookie(cookie, req, name, token);
  if (maxAge !== undefined) {
    line.maxAge = maxAge;
    line.expires = new Date(Date.now() + maxAge * 1000);
  }
  return stringifySetCookie(line);
}

/** The `Set-Cookie` line that deletes the cookie (same name, path and domain, empty, expired). */
export function clearingCookie(cookie: ResolvedCookie, name: string, req: IncomingMessage): string {
  const line = setCookie(cookie, req, name, "");
  line.maxAge = 0;
  line.expires = new Date(0);
  return stringifySetCookie(line);
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

/**
 * The session cookie of one request: it sends at most one `Set-Cookie` line of its own (a later
 * one replaces an earlier one, so a login followed by a rotation sends one cookie), refreshes the
 * cookie when the rolling rule says so, and clears it only when the request carried it.
 */
export class SessionCookie {
  private line: string | undefined;

  constructor(
    private readonly cookie: ResolvedCookie,
    /** The cookie's name for this request's app. */
    readonly name: string,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly lifetime: LifetimeContext,
    /** True when the request carried the cookie at all (even malformed or twice). */
    private readonly present: boolean,
  ) {}

  /** True once this request has set the cookie (to a token or to clear it). */
  get sent(): boolean {
    return this.line !== undefined;
  }

  /**
   * Gives the browser `token` for `session`, read `elapsed` seconds ago. False when the
   * response headers are already sent.
   */
  issue(token: string, session: Session<unknown>, elapsed: Seconds): boolean {
    const maxAge = this.cookie.persistent
      ? cookieMaxAge(session, this.lifetime, elapsed)
      : undefined;
    return this.write(sessionCookie(this.cookie, this.name, this.req, token, maxAge));
  }

  /** Refreshes the cookie of a session just read or written when the rolling rule says so. */
  roll(token: string, session: Session<unknown>, now: Seconds): void {
    // A cookie issued during this request is fresh already.
    if (!this.cookie.persistent || this.line !== undefined) return;
    if (!needsRefresh(session, now, this.lifetime)) return;
    if (!this.issue(token, session, 0)) {
      debug("cookie refresh skipped: the response headers were already sent");
    }
  }

  /** Deletes the cookie in the browser, if the request carried it or this request set it. */
  clear(): void {
    if (!this.present && this.line === undefined) return;
    this.write(clearingCookie(this.cookie, this.name, this.req));
  }

  private write(line: string): boolean {
    if (!writeSetCookie(this.res, line, this.line)) return false;
    this.line = line;
    return true;
  }
}
