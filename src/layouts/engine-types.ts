/*
 * Types the engines of both layouts share (engine.ts holds the interface).
 */

/** What a kill wrote: one token's session, one id's sessions, or a whole app. */
export type KillTarget = { token: string } | { id: string } | "all";

/** A new session as the create script takes it (`d` already serialized, `""` for none). */
export interface NewSession {
  id: string;
  ip: string;
  ttl: number;
  d: string;
  noResave: boolean;
  /** The user agent, `""` for none. */
  ua: string;
  /** Seconds to the absolute end, 0 for none. */
  absolute: number;
  /** The CSRF token to store. */
  cs: string;
  /** Most live sessions per id, 0 for no cap. */
  cap: number;
  /** With a cap reached: evict the least recently active sessions, or refuse the create. */
  onLimit: "evict" | "refuse";
}

/** One session a wipe removed. */
export interface WipedSession {
  app: string;
  token: string;
  id: string;
}

/** What a wipe did: how many sessions it removed, and which. */
export interface WipeResult {
  removed: number;
  sessions: WipedSession[];
}

/** Reads the app, token, id triples a wipe script lists into `into`. */
export function readWiped(flat: readonly unknown[], into: WipedSession[]): void {
  for (let i = 0; i + 2 < flat.length; i += 3) {
    into.push({ app: String(flat[i]), token: String(flat[i + 1]), id: String(flat[i + 2]) });
  }
}

/** The script arguments of a create's account fields: ua, absolute, cs, cap, mode. */
export function accountArguments(s: NewSession): string[] {
  return [s.ua, s.absolute > 0 ? String(s.absolute) : "", s.cs, String(s.cap), s.onLimit];
}
