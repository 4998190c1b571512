/*
 * The cluster layout has no key that lists apps: the wipe finds them by SCAN, bounded per run.
 * Among millions of keys a run's share of the scan may not reach an app's registry key, so an
 * explicit wipe() scans on to the end, and apps once found stay known to later runs.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { fakeClock } from "../helpers/stores.js";

// Well above what one timer run scans (1000 SCAN calls of COUNT 1000 per node, about a
// million hash-table buckets): the app's one registry key is then most likely out of its reach.
const OTHER_KEYS = 4_000_000;

describe("cluster layout: the wipe among many other keys", () => {
  let server: RedisServer;
  let raw: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url);
    await raw.call("DEBUG", "POPULATE", String(OTHER_KEYS), "other");
  }, 60_000);

  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  it("an explicit wipe() finds the app whatever the number of keys, and removes its expired sessions", async () => {
    const clock = fakeClock();
    const store = new RedisSessions({
      redis: server.url,
      layout: "cluster",
      namespace: "scan",
      wipe: 0,
      clock: clock.now,
      timeout: 5000,
    });
    try {
      for (let i = 0; i < 5; i++) {
        await store.create({ app: "far", id: `u${i}`, ip: "127.0.0.1", ttl: 10 });
      }
      const kept = await store.create({ app: "far", id: "kept", ip: "127.0.0.1", ttl: 3600 });
      clock.t += 20;
      expect(await raw.dbsize()).toBeGreaterThan(OTHER_KEYS);
      expect(await store.wipe()).toBe(5);
      expect(await store.soid({ app: "far", id: "kept" })).toMatchObject({
        sessions: [{ id: "kept" }],
      });
      expect(await store.get({ app: "far", token: kept.token })).toMatchObject({ id: "kept" });
      expect(await store.activity({ app: "far", deltaTime: 3600 })).toEqual({ activity: 1 });
    } finally {
      await store.quit();
    }
  }, 60_000);
});
