import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RedisSessions } from "../../src/index.js";
import { uniqueNamespace } from "../helpers/context.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { fakeClock, storePool } from "../helpers/stores.js";
import { readUntil, until } from "../helpers/wait.js";

/*
 * A session can vanish from Redis without a message on the `{ns}:cache` channel: FLUSHDB, a DEL
 * by a foreign tool, an eviction under maxmemory. The cache learns of it when its batched
 * activity refresh of cache hits finds the session missing, and must then stop serving it
 * (before, it kept serving it until `cachetime` ran out: 8 of 8 reads over 8 s).
 */

const app = "gone";
let server: RedisServer;
let raw: Redis;
const stores = storePool(() => ({ redis: server.url }));

beforeAll(async () => {
  // A server of its own: these tests FLUSHDB.
  server = await startRedisServer();
  raw = new Redis(server.url);
});

afterEach(() => stores.quitAll());

afterAll(async () => {
  raw.disconnect();
  await server.stop();
});

async function cached(layout: "compat" | "cluster") {
  const clock = fakeClock();
  const rs = stores.open({ namespace: uniqueNamespace(), cachetime: 60, clock: clock.now, layout });
  await until(() => rs.cacheStats().active, { what: "the cache to subscribe" });
  return { rs, clock };
}

/** Reads until the cache stops serving `token` (each hit past the interval refreshes it). */
function servedUntilGone(rs: RedisSessions, token: string, clock: { t: number }) {
  return readUntil(
    async () => {
      // Hits refresh activity at most every 5 s (of the store's clock) per session.
      clock.t += 6;
      return rs.get({ app, token });
    },
    (s) => s === null,
    { ms: 3000, every: 50, what: "the cache to drop the vanished session" },
  );
}

describe.each(["compat", "cluster"] as const)(
  "layout %s: a session gone without a message",
  (layout) => {
    it("after FLUSHDB is no longer served once a refresh finds it missing", async () => {
      const { rs, clock } = await cached(layout);
      const { token } = await rs.create({ app, id: "u1", ip: "::1" });
      expect((await rs.get({ app, token }))?.id).toBe("u1");
      expect(rs.cacheStats().size).toBe(1);
      await raw.flushdb();
      expect(await servedUntilGone(rs, token, clock)).toBeNull();
      expect(rs.cacheStats().size).toBe(0);
    });

    it("after a foreign DEL of its hash is no longer served, and the others still are", async () => {
      const { rs, clock } = await cached(layout);
      const tokens: string[] = [];
      for (const id of ["u1", "u2", "u3"])
        tokens.push((await rs.create({ app, id, ip: "::1" })).token);
      for (const token of tokens) await rs.get({ app, token });
      const [victim, ...others] = tokens as [string, ...string[]];
      expect(await raw.del(rs.keys.session(app, victim))).toBe(1);
      // The others are read along, so that their refresh goes in the same batch.
      await readUntil(
        async () => {
          clock.t += 6;
          const all = await Promise.all(tokens.map((token) => rs.get({ app, token })));
          return all.map((s) => s?.id ?? null);
        },
        (ids) => ids[0] === null,
        { ms: 3000, every: 50, what: "the cache to drop the deleted session" },
      );
      for (const token of others) expect(await rs.get({ app, token })).not.toBeNull();
      expect(await rs.get({ app, token: victim })).toBeNull();
    });
  },
);
