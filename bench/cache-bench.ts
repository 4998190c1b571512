import { RedisSessions } from "../src/index.js";
import type { BenchConfig } from "./config.js";
import { ratio, type Summary, summarize, timed } from "./stats.js";
import { APP } from "./subjects.js";

/** `get` one at a time from Redis and from the in-process cache (`cachetime`), in one run. */
export interface CacheRow {
  /** gets/s answered by Redis. */
  uncached: Summary;
  /** gets/s answered from memory. */
  cached: Summary;
  /** cached / uncached per repetition. */
  ratio: Summary;
}

async function getsPerSecond(rs: RedisSessions, tokens: string[], passes: number) {
  let ok = 0;
  const seconds = await timed(async () => {
    for (let p = 0; p < passes; p++) {
      for (const token of tokens) if (await rs.get({ app: APP, token })) ok++;
    }
  });
  if (ok !== tokens.length * passes) throw new Error(`get: ${ok} of ${tokens.length * passes}`);
  return ok / seconds;
}

/**
 * The same sessions read one at a time by a store without and a store with `cachetime`, the two
 * taking turns in every repetition; the cached store is warmed (one read per session) first.
 */
export async function cacheBench(
  cfg: BenchConfig,
  host: string,
  port: number,
  log: (line: string) => void,
): Promise<CacheRow> {
  const { sessions: n, reps, passes } = cfg.store;
  const namespace = "bench-cache";
  const plain = new RedisSessions({ redis: { host, port }, namespace, wipe: 0 });
  const cached = new RedisSessions({ redis: { host, port }, namespace, wipe: 0, cachetime: 600 });
  try {
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) {
      tokens.push((await plain.create({ app: APP, id: `c${i}`, ip: "127.0.0.1" })).token);
    }
    while (!cached.cacheStats().active) await new Promise((r) => setTimeout(r, 10));
    await getsPerSecond(cached, tokens, 1);
    await getsPerSecond(plain, tokens, 1);
    const a: number[] = [];
    const b: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      a.push(await getsPerSecond(plain, tokens, passes));
      // Ten times the passes: a pass from memory is too short to time on its own.
      b.push(await getsPerSecond(cached, tokens, passes * 10));
    }
    const stats = cached.cacheStats();
    if (stats.misses > n) throw new Error(`cache: ${stats.misses} misses for ${n} sessions`);
    log("cache: done");
    return { uncached: summarize(a), cached: summarize(b), ratio: ratio(b, a) };
  } finally {
    await plain.killall({ app: APP });
    await Promise.all([plain.quit(), cached.quit()]);
  }
}
