import { debuglog } from "node:util";
import type { Session, SessionWithToken } from "../types.js";

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
