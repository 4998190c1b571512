import { masters, type RedisClient } from "../redis-client.js";

/** One session as stored: its token and the fields of its hash. */
export interface StoredSession {
  token: string;
  fields: Record<string, string>;
}

/** A batch read from a source, and where the next one starts ("0" when done). */
export interface Batch {
  cursor: string;
  sessions: StoredSession[];
}

/** What migration needs from one key layout. */
export interface Side {
  readonly layout: "compat" | "cluster";
  /** Apps with a sessions index, found with SCAN on every master. */
  apps(): Promise<string[]>;
  /** About how many sessions an app has (index size, expired ones included). */
  count(app: string): Promise<number>;
  /** Reads the sessions of an app from `cursor` ("0": from the start). */
  read(app: string, cursor: string, batch: number): Promise<Batch>;
  /** Writes a session unless the target holds it as new already; true if written. */
  write(app: string, session: StoredSession, remaining: number): Promise<boolean>;
  /** True when `token` names a live session of the app at `now`. */
  isLive(app: string, token: string, now: number): Promise<boolean>;
  /** The tokens this tool copied into the app (for `prune`). */
  copied(app: string): AsyncIterable<string>;
  /** Ends one session the proper way (indexes, cache invalidation). */
  kill(app: string, token: string): Promise<void>;
  /** Redis' clock, in unix seconds. */
  now(): Promise<number>;
  close(): Promise<void>;
}

/** The hash fields to copy, as HSET arguments. */
export function fieldArgs(fields: Record<string, string>): string[] {
  // The marker of a copy is not carried over: it is set again by the side that writes.
  return Object.entries(fields).flatMap(([k, v]) => (k === "mig" ? [] : [k, v]));
}

export function alive(fields: (string | null)[], now: number): boolean {
  const [id, la, ttl] = fields;
  return id !== null && id !== undefined && Number(ttl) >= now - Number(la);
}

export async function redisNow(client: RedisClient): Promise<number> {
  const [seconds] = (await (masters(client)[0] as RedisClient).time()) as [
    number | string,
    unknown,
  ];
  return Number(seconds);
}
