/*
 * Redis URLs: checked when a store is created (ioredis would read a malformed one as a socket
 * path or another host and fail only at the first command, naming neither), and shown without
 * credentials in messages and logs.
 */
import { fail } from "./option-checks.js";

const EXPECTED =
  "a Redis URL, redis://[[user]:password@]host[:port][/db] or rediss://…, or a socket path";

/** Query parameters that hold a credential (ioredis reads `password`, `sentinelPassword`…). */
const SECRET_PARAM = /pass|secret|token|auth|key/i;

/**
 * `url` with every credential masked: the password of `user:password@` (a lone `user@` may be
 * a password too), and the value of every query parameter that names one (`?password=`).
 */
export function redactRedisUrl(url: string): string {
  const end = url.search(/[?#]/);
  let head = end === -1 ? url : url.slice(0, end);
  const at = head.lastIndexOf("@");
  if (at !== -1) {
    // The user info starts after "//", or after the scheme in a malformed "redis:/u:p@host".
    const slashes = head.indexOf("//");
    const start =
      slashes !== -1 && slashes < at
        ? slashes + 2
        : (/^[a-z][a-z\d+.-]*:\/*/i.exec(head)?.[0].length ?? 0);
    const userinfo = head.slice(start, at);
    const colon = userinfo.indexOf(":");
    const masked = colon === -1 ? "***" : `${userinfo.slice(0, colon)}:***`;
    head = `${head.slice(0, start)}${masked}${head.slice(at)}`;
  }
  const hash = url.indexOf("#", end);
  const query =
    end === -1 || url[end] === "#" ? "" : url.slice(end + 1, hash === -1 ? undefined : hash);
  const params = query.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    if (eq === -1) return pair;
    let name = pair.slice(0, eq);
    try {
      name = decodeURIComponent(name);
    } catch {}
    return SECRET_PARAM.test(name) ? `${pair.slice(0, eq)}=***` : pair;
  });
  return `${head}${query ? `?${params.join("&")}` : ""}${hash === -1 || end === -1 ? "" : "#…"}`;
}

/** A `db` (in the path or the query) must be a database number. */
function checkDb(db: string | null, name: string, url: string): void {
  if (db !== null && !/^\d{1,9}$/.test(db)) {
    fail(name, `${EXPECTED}, whose db is a number`, redactRedisUrl(url));
  }
}

/**
 * Checks a Redis URL in the forms ioredis reads: `redis://` or `rediss://` with a host, a port
 * from 1 to 65535 and a numeric db, or an absolute unix socket path (`/run/redis.sock?db=1`).
 * Throws a `TypeError` that names option `name`; the URL in the message has no credentials.
 */
export function checkRedisUrl(url: string, name: string): void {
  if (url.startsWith("/") && !url.startsWith("//")) {
    const q = url.indexOf("?");
    if ((q === -1 ? url : url.slice(0, q)).length < 2) fail(name, EXPECTED, redactRedisUrl(url));
    if (q !== -1) checkDb(new URLSearchParams(url.slice(q + 1)).get("db"), name, url);
    return;
  }
  if (!/^rediss?:\/\//i.test(url)) fail(name, EXPECTED, redactRedisUrl(url));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(name, `${EXPECTED} (this one does not parse: a bad port?)`, redactRedisUrl(url));
  }
  if (parsed.hostname === "") fail(name, `${EXPECTED}, with a host`, redactRedisUrl(url));
  if (parsed.port === "0")
    fail(name, `${EXPECTED}, with a port from 1 to 65535`, redactRedisUrl(url));
  const path = parsed.pathname;
  checkDb(path === "" || path === "/" ? null : path.slice(1), name, url);
  checkDb(parsed.searchParams.get("db"), name, url);
}
