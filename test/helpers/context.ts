import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { inject } from "vitest";

/** URL of the run's private redis-server (or REDIS_URL). */
export function redisUrl(): string {
  return inject("redisUrl");
}

/** A namespace no other test uses, so tests never see each other's keys. */
export function uniqueNamespace(prefix = "t"): string {
  return `${prefix}${randomBytes(6).toString("hex")}`;
}

/** A plain ioredis client for inspecting raw keys; the caller quits it. */
export function rawClient(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: 1, lazyConnect: false });
}

/** Every key under a namespace (`{ns}:*`), by SCAN (never KEYS: the server is shared). */
export async function namespaceKeys(redis: Redis, ns: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${ns}:*`, "COUNT", "1000");
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

/** All keys under a namespace with their type and full contents, sorted: a byte-level snapshot. */
export async function dumpNamespace(redis: Redis, ns: string): Promise<Record<string, unknown>> {
  const keys = (await namespaceKeys(redis, ns)).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === "hash") out[key] = { hash: await redis.hgetall(key) };
    else if (type === "zset") out[key] = { zset: await redis.zrange(key, "0", "-1", "WITHSCORES") };
    else if (type === "set") out[key] = { set: (await redis.smembers(key)).sort() };
    else if (type === "string") out[key] = { string: await redis.get(key) };
    else out[key] = { type };
  }
  return out;
}
