import type { IncomingMessage } from "node:http";
import { isTokenShaped } from "../validate.js";

/** Where a request's token came from. */
export type TokenSource = "cookie" | "header" | "bearer";

/** What {@link readToken} found on a request. */
export interface FoundToken {
  /** A well-shaped token (64 of `[0-9A-Za-z]`), or null. Not yet checked against Redis. */
  token: string | null;
  /** Where `token` came from; null when there is none. */
  source: TokenSource | null;
  /** True when the request carried our cookie at all, even a malformed or duplicated one. */
  cookiePresent: boolean;
}

/** Which transports to read, and under which names. */
export interface TokenTransports {
  /** Cookie name, or false when cookies are off. */
  cookie: string | false;
  /** Lower-case request header name, or false. */
  header: string | false;
  bearer: boolean;
}

/** The result of scanning a `Cookie` header for one name. */
export interface CookieScan {
  /** The value when the name occurs exactly once, else null. */
  value: string | null;
  /** How many times the name occurs (a duplicate is a sign of cookie tossing). */
  count: number;
}

/**
 * Finds the cookie `name` in a `Cookie` header without parsing the others. Node joins repeated
 * `Cookie` headers with "; ", so one scan sees them all; the header is at most 16 KiB (Node's
 * limit), so the scan is bounded. A name that occurs twice yields no value: a sibling subdomain
 * or a deeper path can plant a second cookie of the same name ("cookie tossing"), and picking
 * either would let an attacker choose the session.
 */
export function scanCookie(header: string | undefined, name: string): CookieScan {
  if (!header) return { value: null, count: 0 };
  let value: string | null = null;
  let count = 0;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    count++;
    value = part.slice(eq + 1).trim();
  }
  if (count !== 1 || value === null) return { value: null, count };
  // RFC 6265 allows a value in double quotes; tokens never contain one.
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return { value, count };
}

function single(value: string | string[] | undefined): string | undefined {
  // Node joins repeated custom headers with ", ", which is never token-shaped; an array
  // only comes from hand-built requests, and two values are as ambiguous as two cookies.
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

/** The token of `Authorization: Bearer <token>`, if that is the header's form. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization || authorization.length < 8) return undefined;
  if (authorization.slice(0, 7).toLowerCase() !== "bearer ") return undefined;
  return authorization.slice(7).trim();
}

/**
 * Reads the session token of a request: the cookie first, then the configured header, then
 * `Authorization: Bearer`. Each candidate must be exactly token-shaped, or it is ignored, so
 * that nothing an attacker sends reaches Redis unless it could be a real token. The query
 * string is never read: URLs end up in logs, Referer headers and browser history.
 */
export function readToken(req: IncomingMessage, transports: TokenTransports): FoundToken {
  let cookiePresent = false;
  if (transports.cookie !== false) {
    const scan = scanCookie(req.headers.cookie, transports.cookie);
    cookiePresent = scan.count > 0;
    if (isTokenShaped(scan.value)) return { token: scan.value, source: "cookie", cookiePresent };
  }
  if (transports.header !== false) {
    const value = single(req.headers[transports.header])?.trim();
    if (isTokenShaped(value)) return { token: value, source: "header", cookiePresent };
  }
  if (transports.bearer) {
    const value = bearerToken(single(req.headers.authorization));
    if (isTokenShaped(value)) return { token: value, source: "bearer", cookiePresent };
  }
  return { token: null, source: null, cookiePresent };
}
