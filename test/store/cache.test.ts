import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisSessions } from "../../src/index.js";
import { uniqueNamespace } from "../helpers/context.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { storePool } from "../helpers/stores.js";
import { until } from "../helpers/wait.js";

const app = "cacheapp";
let server: RedisServer;
let raw: Redis;
const stores = storePool(() => ({ redis: server.url }));
const store = stores.open;

async function ready(rs: RedisSessions): Promise<RedisSessions> {
  await until(() => rs.cacheStats().active, { ms: 3000, what: "the cache to subscribe" });
  return rs;
}

/** Commands the server has run, by name, from INFO commandstats. */
async function commandCounts(): Promise<Record<string, number>> {
  const info = await raw.info("commandstats");
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

beforeAll(async () => {
  // A server of its own: INFO commandstats must count only this file's commands.
  server = await startRedisServer();
  raw = new Redis(server.url);
});

afterAll(async () => {
  await stores.quitAll();
  raw.disconnect();
  await server.stop();
});

describe("cachetime", () => {
  it("answers a hit from memory with zero Redis commands and the same r", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const { token } = await rs.create({ app, id: "u1", ip: "127.0.0.1", d: { a: 1 } });
    const first = await rs.get({ app, token });
    const before = await commandCounts();
    const hits = await Promise.all(Array.from({ length: 50 }, () => rs.get({ app, token })));
    const after = await commandCounts();
    // Only the INFO call itself ran in between.
    delete before.info;
    delete after.info;
    expect(after).toEqual(before);
    for (const hit of hits) expect(hit).toEqual(first);
    expect(rs.cacheStats()).toMatchObject({ hits: 50, misses: 1, size: 1, active: true });
  });

  it("answers a burst of misses for one session with one Redis read, each caller its own copy", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const { token } = await rs.create({ app, id: "u1", ip: "127.0.0.1", d: { a: 1 } });
    const before = await commandCounts();
    const burst = await Promise.all(Array.from({ length: 50 }, () => rs.get({ app, token })));
    const after = await commandCounts();
    expect((after.evalsha ?? 0) - (before.evalsha ?? 0)).toBe(1);
    expect(new Set(burst).size).toBe(50);
    for (const s of burst) expect(s).toMatchObject({ id: "u1", r: 1, d: { a: 1 } });
    burst[0]!.d!.a = 2;
    expect(burst[1]?.d?.a).toBe(1);
  });

  it("never answers a token presented for another app from the cache", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const { token } = await rs.create({ app, id: "u1", ip: "127.0.0.1" });
    // Concurrently (a shared read in flight) and then from a filled cache.
    const [mine, theirs] = await Promise.all([
      rs.get({ app, token }),
      rs.get({ app: "otherapp", token }),
    ]);
    expect(mine?.id).toBe("u1");
    expect(theirs).toBeNull();
    expect(await rs.get({ app: "otherapp", token })).toBeNull();
    expect((await rs.get({ app, token }))?.id).toBe("u1");
  });

  it("hands out copies: mutating a returned session never changes the cache", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const { token } = await rs.create({ app, id: "u1", ip: "127.0.0.1", d: { a: 1 } });
    const one = await rs.get({ app, token });
    if (!one?.d) throw new Error("expected a session with d");
    one.d.a = 999;
    one.r = 999;
    const two = await rs.get({ app, token });
    expect(two?.d).toEqual({ a: 1 });
    expect(two?.r).toBe(1);
  });

  it("is invalidated by this instance's set, kill and rotate before they resolve", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const { token } = await rs.create({ app, id: "u1", ip: "127.0.0.1", d: { a: 1 } });
    await rs.get({ app, token });
    await rs.set({ app, token, d: { a: 2 } });
    expect((await rs.get({ app, token }))?.d).toEqual({ a: 2 });
    const rotated = await rs.rotate({ app, token });
    expect(await rs.get({ app, token })).toBeNull();
    if (!rotated) throw new Error("rotate failed");
    await rs.get({ app, token: rotated.token });
    await rs.kill({ app, token: rotated.token });
    expect(await rs.get({ app, token: rotated.token })).toBeNull();
  });

  it("is invalidated for every token by killsoid and killall", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const tokens = await Promise.all(
      ["u1", "u1", "u1", "u2"].map(async (id) => (await rs.create({ app, id, ip: "::1" })).token),
    );
    for (const token of tokens) await rs.get({ app, token });
    expect(rs.cacheStats().size).toBe(4);
    expect(await rs.killsoid({ app, id: "u1" })).toEqual({ kill: 3 });
    for (const token of tokens.slice(0, 3)) expect(await rs.get({ app, token })).toBeNull();
    expect(await rs.get({ app, token: tokens[3]! })).not.toBeNull();
    expect(await rs.killall({ app })).toEqual({ kill: 1 });
    expect(await rs.get({ app, token: tokens[3]! })).toBeNull();
  });

  it("is invalidated by writes of other processes over the {ns}:cache channel", async () => {
    const ns = uniqueNamespace();
    const cached = await ready(store({ namespace: ns, cachetime: 30 }));
    const other = store({ namespace: ns });
    const { token } = await other.create({ app, id: "u1", ip: "::1", d: { a: 1 } });
    expect((await cached.get({ app, token }))?.d).toEqual({ a: 1 });
    await other.set({ app, token, d: { a: 2 } });
    await until(async () => (await cached.get({ app, token }))?.d?.a === 2, { ms: 3000 });
    await other.kill({ app, token });
    await until(async () => (await cached.get({ app, token })) === null, { ms: 3000 });
    expect(cached.cacheStats().invalidations).toBeGreaterThanOrEqual(2);
  });

  it("accepts redis-sessions' message format from a plain PUBLISH", async () => {
    const ns = uniqueNamespace();
    const cached = await ready(store({ namespace: ns, cachetime: 30 }));
    const { token } = await cached.create({ app, id: "u1", ip: "::1" });
    await cached.get({ app, token });
    expect(cached.cacheStats().size).toBe(1);
    await raw.publish(`${ns}:cache`, `${app}:${token}`);
    await until(() => cached.cacheStats().size === 0, { ms: 3000 });
  });

  it("expires entries after cachetime and then reads Redis again (r moves on)", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 1 }));
    const { token } = await rs.create({ app, id: "u1", ip: "::1" });
    expect((await rs.get({ app, token }))?.r).toBe(1);
    expect((await rs.get({ app, token }))?.r).toBe(1);
    await until(async () => (await rs.get({ app, token }))?.r === 2, { ms: 3000 });
  });

  it("bounds the number of entries by cachemax (least recently used goes first)", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30, cachemax: 2 }));
    const tokens = await Promise.all(
      [1, 2, 3].map(async (i) => (await rs.create({ app, id: `u${i}`, ip: "::1" })).token),
    );
    for (const token of tokens) await rs.get({ app, token });
    expect(rs.cacheStats()).toMatchObject({ size: 2, evictions: 1, invalidations: 0 });
    // The first was evicted: reading it again is a miss, so r has moved on.
    expect((await rs.get({ app, token: tokens[0]! }))?.r).toBe(2);
  });

  it("never evicts a cached session for a miss that finds nothing (unknown tokens)", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30, cachemax: 2 }));
    const tokens = await Promise.all(
      [1, 2].map(async (i) => (await rs.create({ app, id: `u${i}`, ip: "::1" })).token),
    );
    for (const token of tokens) await rs.get({ app, token });
    // A flood of well-formed random tokens, as unauthenticated requests can send, in parallel.
    const unknown = Array.from({ length: 20 }, (_, i) => String(i).padStart(64, "x"));
    expect(await Promise.all(unknown.map((token) => rs.get({ app, token })))).toEqual(
      unknown.map(() => null),
    );
    const { hits } = rs.cacheStats();
    for (const token of tokens) expect((await rs.get({ app, token }))?.r).toBe(1);
    expect(rs.cacheStats()).toMatchObject({ hits: hits + 2, size: 2, evictions: 0 });
  });

  it("bounds the bytes held when cachemaxBytes is set", async () => {
    const rs = await ready(
      store({ namespace: uniqueNamespace(), cachetime: 30, cachemaxBytes: 4000 }),
    );
    for (let i = 0; i < 10; i++) {
      const { token } = await rs.create({
        app,
        id: `u${i}`,
        ip: "::1",
        d: { blob: "x".repeat(900) },
      });
      await rs.get({ app, token });
    }
    const stats = rs.cacheStats();
    expect(stats.bytes).toBeLessThanOrEqual(4000);
    expect(stats.size).toBeGreaterThan(0);
    expect(stats.size).toBeLessThan(10);
  });

  it("keeps a user served from memory alive: hits refresh activity in the background", async () => {
    let now = 1_800_000_000;
    const ns = uniqueNamespace();
    const rs = await ready(store({ namespace: ns, cachetime: 60, clock: () => now }));
    const { token } = await rs.create({ app, id: "u1", ip: "::1", ttl: 10 });
    await rs.get({ app, token });
    // Eight seconds later the user is still active, served from the cache.
    now += 8;
    expect((await rs.get({ app, token }))?.r).toBe(1);
    await until(async () => (await raw.hget(`${ns}:${app}:${token}`, "la")) === String(now), {
      ms: 4000,
    });
    expect(await raw.zscore(`${ns}:${app}:_users`, "u1")).toBe(String(now));
    expect(await raw.zscore(`${ns}:SESSIONS`, `${app}:${token}:u1`)).toBe(String(now + 10));
    // Past the original expiry (create + 10 s), another process still finds the session alive.
    now += 8;
    const other = store({ namespace: ns, clock: () => now });
    expect(await other.get({ app, token })).not.toBeNull();
  });

  it("flushes and bypasses the cache while its subscriber is disconnected", async () => {
    const rs = await ready(store({ namespace: uniqueNamespace(), cachetime: 30 }));
    const { token } = await rs.create({ app, id: "u1", ip: "::1" });
    await rs.get({ app, token });
    expect(rs.cacheStats().size).toBe(1);
    const flushes = rs.cacheStats().flushes;
    await raw.call("CLIENT", "KILL", "TYPE", "pubsub");
    await until(() => rs.cacheStats().flushes > flushes, { ms: 3000 });
    expect(rs.cacheStats().size).toBe(0);
    await until(() => rs.cacheStats().active, { ms: 5000 });
    // Works again once resubscribed.
    await rs.get({ app, token });
    await rs.get({ app, token });
    expect(rs.cacheStats().size).toBe(1);
  });

  it("reports zero stats and stays out of the way when cachetime is 0", async () => {
    const none = {
      hits: 0,
      misses: 0,
      invalidations: 0,
      evictions: 0,
      flushes: 0,
      size: 0,
      bytes: 0,
      active: false,
      subscriber: "off",
    };
    const rs = store({ namespace: uniqueNamespace() });
    expect(rs.cacheStats()).toEqual(none);
    const { token } = await rs.create({ app, id: "u1", ip: "::1" });
    expect((await rs.get({ app, token }))?.r).toBe(1);
    expect((await rs.get({ app, token }))?.r).toBe(2);
    expect(rs.cacheStats()).toEqual(none);
  });
});
