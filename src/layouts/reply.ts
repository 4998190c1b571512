import { debuglog } from "node:util";
import type { Seconds, Session, SessionWithToken } from "../types.js";

const debug = debuglog("express-redis-sessions");

/*
 * Decoding what the scripts of both layouts return (see `reply()` in src/layouts/lua.ts).
 */

/** The array a store script returns for one session: id r w ttl idle ip no_resave d. */
export type SessionReply = [
  string,
  string,
  string,
  string,
  string,
  string | null,
  number,
  string | null,
];

/** Builds a session in redis-sessions' key order: id r w ttl idle ip [no_resave] [d]. */
export function toSession<D>(reply: SessionReply): Session<D> {
  const [id, r, w, ttl, idle, ip, noResave, d] = reply;
  const session: Session<D> = {
    id,
    r: Number(r),
    w: Number(w),
    ttl: Number(ttl),
    idle: Number(idle),
    // A hash written without ip (by another client) reads as "null", as in redis-sessions.
    ip: ip ?? "null",
  };
  if (noResave === 1) session.no_resave = true;
  if (d) {
    try {
      session.d = JSON.parse(d) as D;
    } catch {
      debug("session %s has a d that is not JSON; returned without d", id);
    }
  }
  return session;
}

/** Builds the list of a soid/soapp reply: token, session, token, session, … */
export function toSessionList<D>(reply: unknown[]): SessionWithToken<D>[] {
  const out: SessionWithToken<D>[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    const session = toSession<D>(reply[i + 1] as SessionReply) as SessionWithToken<D>;
    session.token = reply[i] as string;
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
