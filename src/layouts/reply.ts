import { debuglog } from "node:util";
import { legacyCreated, sessionHandle } from "../handle.js";
import type { Seconds, Session, SessionEntry } from "../types.js";
import { MAX_TTL } from "../validate.js";

const debug = debuglog("express-redis-sessions");

/*
 * Decoding what the scripts of both layouts return (see `reply()` in src/layouts/lua.ts).
 */

/**
 * The array a store script returns for one session: id r w ttl idle ip no_resave d, then our
 * fields ct au ab ua (null when absent; a reply of an older script may lack them); a get
 * through a rotation alias has 1 after them (such a read is never cached).
 */
export type SessionReply = [
  string,
  string,
  string,
  string,
  string,
  string | null,
  number,
  string | null,
  (string | null)?,
  (string | null)?,
  (string | null)?,
  (string | null)?,
  number?,
];

/** A unix time another client may have written: a whole number >= 0, else undefined. */
function unixTime(text: unknown): number | undefined {
  if (text === null || text === undefined || text === "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}

/** The longest ttl a session reports: longer ones (written by other clients) read as this. */
const MAX_SECONDS = MAX_TTL;

/**
 * A counter (`r`, `w`) as stored by any client: a whole number >= 0. Text that is not a finite
 * number (`""`, `"abc"`, `"1e400"`) reads as 0, fractions are cut, negatives read as 0.
 */
function count(text: unknown): number {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
}

/**
 * Seconds (`ttl`, `idle`) as the scripts print them (Lua's `tostring`: `"3600.5"`, `"1e+15"`,
 * `"inf"`, `"nan"`): a whole number from 0 to `max`, fractions rounded up, so that a cookie
 * derived from a ttl never expires before the session does.
 */
function seconds(text: unknown, max: number): number {
  const n = Number(text);
  if (Number.isNaN(n)) return typeof text === "string" && /^inf/i.test(text) ? max : 0;
  return Math.min(max, Math.max(0, Math.ceil(n)));
}

/**
 * Builds a session in redis-sessions' key order: id r w ttl idle ip [no_resave] [d]. Every field
 * may have been written by another client (redis-sessions 4 stores ttls as given, "3600.5"), so
 * each is read defensively: the numbers come out whole and >= 0, and a `d` that is not a JSON
 * object is left out.
 */
export function toSession<D>(reply: SessionReply, token?: string): Session<D> {
  const [id, r, w, ttlText, idleText, ip, noResave, d, ct, au, ab, ua] = reply;
  const ttl = seconds(ttlText, MAX_SECONDS);
  const session: Session<D> = {
    id,
    r: count(r),
    w: count(w),
    ttl,
    // Not bounded by ttl: for no_resave, ttl is what is left and idle may exceed it.
    idle: seconds(idleText, MAX_SECONDS),
    // A hash written without ip (by another client) reads as "null", as in redis-sessions.
    ip: ip ?? "null",
  };
  if (noResave === 1) session.no_resave = true;
  if (d) {
    try {
      const parsed: unknown = JSON.parse(d);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        session.d = parsed as D;
      } else {
        debug("session %s has a d that is not a JSON object; returned without d", id);
      }
    } catch {
      debug("session %s has a d that is not JSON; returned without d", id);
    }
  }
  // Our fields follow v4's, present only when known.
  const created = unixTime(ct) ?? (token === undefined ? undefined : legacyCreated(token));
  if (created !== undefined) session.created = created;
  const auth = unixTime(au);
  if (auth !== undefined) session.auth = auth;
  const expires = unixTime(ab);
  if (expires !== undefined) session.expires = expires;
  if (typeof ua === "string" && ua !== "") session.ua = ua;
  return session;
}

/** Builds the list of a soid/soapp reply: token, session, token, session, … */
export function toSessionList<D>(reply: unknown[]): SessionEntry<D>[] {
  const out: SessionEntry<D>[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    const token = reply[i] as string;
    const session = toSession<D>(reply[i + 1] as SessionReply, token) as SessionEntry<D>;
    session.token = token;
    session.handle = sessionHandle(token);
    out.push(session);
  }
  return out;
}

/** A copy of a session that shares nothing mutable with it (`d` is copied too). */
export function copySession<D>(s: Session<D>): Session<D> {
  const out = { ...s };
  if (s.d) out.d = { ...s.d };
  return out;
}

/** A session just created, exactly as a later read of it returns it. */
export function createdSession<D>(
  id: string,
  ip: string,
  ttl: Seconds,
  noResave: boolean,
  d: object | undefined,
): Session<D> {
  const session: Session<D> = { id, r: 1, w: 1, ttl, idle: 0, ip };
  if (noResave) session.no_resave = true;
  if (d) {
    const kept = Object.entries(d).filter(([, v]) => v !== null);
    // The round trip gives exactly what a later read returns (NaN becomes null, etc.).
    if (kept.length > 0) session.d = JSON.parse(JSON.stringify(Object.fromEntries(kept))) as D;
  }
  return session;
}
