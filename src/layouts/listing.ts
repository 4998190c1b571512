import type { SessionReply } from "./reply.js";

/*
 * What both layouts' listings have in common: a page of sessions with the cursor to the next
 * one, and the order soapp returns (most recent first, ties as redis-sessions gives them).
 */

/** One session found by soapp: its index member, activity in milliseconds, token and reply. */
export interface Listed {
  token: string;
  reply: SessionReply;
  member: string;
  ms: number;
}

/** A page of a listing: token, session, token, session, …, and the cursor (null: the end). */
export interface ListPage {
  list: unknown[];
  cursor: string | null;
}

/** Byte order of two strings (how Redis orders members), fast when they differ in ASCII. */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0x80 && y < 0x80) return x - y;
    return Buffer.compare(Buffer.from(a.slice(i)), Buffer.from(b.slice(i)));
  }
  return a.length - b.length;
}

/** Most recent first; ties in the reverse byte order of the member, as ZRANGE … REV gives. */
export function byRecency(
  a: Pick<Listed, "ms" | "member">,
  b: Pick<Listed, "ms" | "member">,
): number {
  if (a.ms !== b.ms) return b.ms - a.ms;
  return compareBytes(b.member, a.member);
}

/** Reads the items a soapp page script returns: token, session, member, milliseconds, … */
export function readListed(flat: readonly unknown[], from: number, into: Listed[]): void {
  for (let i = from; i + 3 < flat.length; i += 4) {
    into.push({
      token: flat[i] as string,
      reply: flat[i + 1] as SessionReply,
      member: flat[i + 2] as string,
      ms: Number(flat[i + 3]),
    });
  }
}

/** The flat list of a whole soapp: every member once (its latest sighting), most recent first. */
export function recencyList(items: Iterable<Listed>): unknown[] {
  return [...items].sort(byRecency).flatMap((r) => [r.token, r.reply]);
}
