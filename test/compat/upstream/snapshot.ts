import type { Redis } from "ioredis";
import { dumpNamespace, namespaceKeys } from "../../helpers/context.js";

/** One key of a snapshot: its type, Redis' internal encoding and its content, order kept. */
export interface KeySnapshot {
  type: string;
  encoding: string | null;
  /** Hash fields as `[field, value]` pairs in HGETALL order (insertion order for listpacks). */
  hash?: [string, string][];
  /** Members and scores as `[member, score]` pairs in ZRANGE order. */
  zset?: [string, string][];
  /** Members, sorted (a set has no order). */
  set?: string[];
  string?: string | null;
}

/** Every key of a namespace, named `NS:…` so that two namespaces compare equal. */
export type Snapshot = Record<string, KeySnapshot>;

/**
 * A byte-level picture of a namespace, from `dumpNamespace` plus each key's `OBJECT ENCODING`:
 * key names and types, hash fields with their order and string encodings, zset members with
 * their scores, set members.
 */
export async function snapshot(redis: Redis, ns: string): Promise<Snapshot> {
  const dump = (await dumpNamespace(redis, ns)) as Record<
    string,
    { hash?: Record<string, string>; zset?: string[]; set?: string[]; string?: string | null }
  >;
  const out: Snapshot = {};
  for (const [key, value] of Object.entries(dump)) {
    const encoding = (await redis.object("ENCODING", key)) as string | null;
    const entry: KeySnapshot = { type: await redis.type(key), encoding };
    if (value.hash) entry.hash = Object.entries(value.hash);
    if (value.zset) entry.zset = pairs(value.zset);
    if (value.set) entry.set = value.set;
    if ("string" in value) entry.string = value.string ?? null;
    out[`NS${key.slice(ns.length)}`] = entry;
  }
  return out;
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** The snapshot with every occurrence of `from` (a token) replaced by `to`, keys re-sorted. */
export function swapToken(snap: Snapshot, from: string, to: string): Snapshot {
  const swapped = JSON.parse(JSON.stringify(snap).split(from).join(to)) as Snapshot;
  const out: Snapshot = {};
  for (const key of Object.keys(swapped).sort()) {
    const entry = swapped[key]!;
    if (entry.set) entry.set.sort();
    if (entry.zset) sortZset(entry.zset);
    out[key] = entry;
  }
  return out;
}

/** Sorts zset pairs as Redis does: by score, then by member bytes. */
export function sortZset(zset: [string, string][]): void {
  zset.sort(
    ([m1, s1], [m2, s2]) =>
      Number(s1) - Number(s2) || Buffer.compare(Buffer.from(m1), Buffer.from(m2)),
  );
}

/** The score of `member` in the zset `key` of a snapshot, or undefined. */
export function scoreOf(snap: Snapshot, key: string, member: string): string | undefined {
  return snap[key]?.zset?.find(([m]) => m === member)?.[1];
}

/** Sets the score of an existing member (keeping Redis' order); throws if it is missing. */
export function setScore(snap: Snapshot, key: string, member: string, score: string): void {
  const zset = snap[key]?.zset;
  const pair = zset?.find(([m]) => m === member);
  if (!zset || !pair) throw new Error(`${key} has no member ${member}`);
  pair[1] = score;
  sortZset(zset);
}

/** The value of a hash field in a snapshot, or undefined. */
export function fieldOf(snap: Snapshot, key: string, field: string): string | undefined {
  return snap[key]?.hash?.find(([f]) => f === field)?.[1];
}

/** Sets the value of an existing hash field (its position is kept); throws if it is missing. */
export function setField(snap: Snapshot, key: string, field: string, value: string): void {
  const pair = snap[key]?.hash?.find(([f]) => f === field);
  if (!pair) throw new Error(`${key} has no field ${field}`);
  pair[1] = value;
}

/** Replaces every key of namespace `to` by a copy (DUMP/RESTORE) of namespace `from`'s keys. */
export async function copyNamespace(redis: Redis, from: string, to: string): Promise<void> {
  await clearNamespace(redis, to);
  for (const key of await namespaceKeys(redis, from)) {
    const dump = await redis.dumpBuffer(key);
    if (dump) await redis.restore(`${to}${key.slice(from.length)}`, 0, dump);
  }
}

/** Deletes every key of a namespace (never a FLUSHDB: the server is shared). */
export async function clearNamespace(redis: Redis, ns: string): Promise<void> {
  const keys = await namespaceKeys(redis, ns);
  if (keys.length > 0) await redis.del(...keys);
}
