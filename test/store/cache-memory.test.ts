import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { resolveStoreOptions } from "../../src/store/options.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { until } from "../helpers/wait.js";

/*
 * The cache's memory bound. With the count bound alone, 5000 sessions of up to 64 KiB took
 * 320 MB of heap; `cachemaxBytes` now has a default, and the size each entry is charged is an
 * upper bound of the heap it holds (strings of characters beyond Latin-1 take two bytes each,
 * numbers in `d` are heap objects, every entry has fixed costs), so the heap the cache holds,
 * measured, stays under the bound whatever the sessions contain.
 */

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const app = "memapp";
const BOUND = 4 * 1024 * 1024;
// heapUsed also moves with what else the process allocated meanwhile (ioredis' buffers, compiled
// code): up to ~100 KB between runs here. The estimate it checks was 2x low before.
const NOISE = 128 * 1024;
const stores: RedisSessions[] = [];

afterAll(async () => {
  await Promise.all(stores.map((s) => s.quit()));
});

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe("cachemaxBytes", () => {
  it("defaults to 32 MiB", () => {
    expect(resolveStoreOptions({}).cachemaxBytes).toBe(32 * 1024 * 1024);
    expect(resolveStoreOptions({ cachemaxBytes: 0 }).cachemaxBytes).toBe(0);
  });

  it.each<[string, () => Record<string, string | number>]>([
    ["one 63 KB ASCII string", () => ({ blob: "x".repeat(63_000) })],
    // Two bytes a character in the heap, three in UTF-8: 21 000 characters are 63 KB in Redis.
    ["one string of CJK characters", () => ({ blob: "中".repeat(21_000) })],
    ["256 keys of fractional numbers", () => ({ ...numbers(256) })],
  ])(
    "bounds the heap a cache of large sessions holds (%s)",
    async (_, data) => {
      const rs = new RedisSessions({
        redis: redisUrl(),
        namespace: uniqueNamespace(),
        wipe: 0,
        cachetime: 60,
        cachemaxBytes: BOUND,
      });
      stores.push(rs);
      await until(() => rs.cacheStats().active, { what: "the cache to subscribe" });
      const tokens: string[] = [];
      const { blob } = data();
      // Enough sessions to hold twice the bound if nothing held them back.
      const count = Math.ceil((2 * BOUND) / (typeof blob === "string" ? blob.length : 4000));
      for (let i = 0; i < count; i++) {
        tokens.push((await rs.create({ app, id: `user${i}`, ip: "::1", d: data() })).token);
      }
      for (const token of tokens) await rs.get({ app, token });
      const full = heapUsed();
      const { size, bytes } = rs.cacheStats();
      await rs.killall({ app });
      expect(rs.cacheStats().size).toBe(0);
      const held = full - heapUsed();
      console.info(
        `[cache-memory] ${size} of ${count} entries, charged ${bytes} B, heap held ${held} B`,
      );
      expect(size).toBeGreaterThan(0);
      expect(size).toBeLessThan(count);
      expect(bytes).toBeLessThanOrEqual(BOUND);
      // What the entries really hold in the heap stays under the bound too.
      expect(held).toBeLessThanOrEqual(BOUND + NOISE);
    },
    60_000,
  );
});

function numbers(n: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i + 0.5]));
}
