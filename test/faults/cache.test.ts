import { describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { withCleanup } from "./scenario.js";
import {
  adminClient,
  clientKillType,
  clientPorts,
  FaultProxy,
  pause,
  report,
  startRedisServer,
  timed,
  until,
  watchUnhandled,
} from "./toolbox.js";

/*
 * The cache races (`cachetime`): a process that caches sessions must never serve one that
 * another process killed, once the kill is acknowledged and the invalidation could arrive,
 * whatever happened to its connections meanwhile. redis-sessions 4 served a killed session in
 * 10 of 10 runs of the first race.
 */

const APP = "cache";
const TIMEOUT = 300;

describe("cache races", () => {
  it("a get reply delayed past a remote kill's invalidation is not cached (0 stale in 10 runs)", async () => {
    await withCleanup(async (defer) => {
      const unhandled = watchUnhandled();
      defer(() => unhandled.stop());
      const server = await startRedisServer();
      defer(() => server.stop());
      const proxy = await FaultProxy.start(server);
      defer(() => proxy.close());
      const admin = adminClient(server.url);
      defer(() => admin.disconnect());
      const cached = new RedisSessions({
        redis: proxy.url,
        cachetime: 60,
        timeout: 1000,
        wipe: 0,
      });
      const remote = new RedisSessions({ redis: server.url, wipe: 0 });
      defer(() => Promise.all([cached.quit(), remote.quit()]));
      await until(() => cached.cacheStats().active, 2000, "the cache to subscribe");
      // Delay only the data connection's replies; the subscriber is the one Redis lists as sub=1.
      const subPorts = await clientPorts(admin, (f) => f.sub === "1");
      const data = [...proxy.connections].filter((c) => !subPorts.includes(c.upstreamPort));
      expect(data).toHaveLength(1);
      data[0]?.setMode({ kind: "delay", down: 40 });

      // Load the get script first: a NOSCRIPT round trip would push the read past the kill.
      await cached.get({ app: APP, token: "W".repeat(64) });
      let stale = 0;
      let raced = 0;
      for (let run = 0; run < 10; run++) {
        const { token } = await remote.create({ app: APP, id: `u${run}`, ip: "1.1.1.1" });
        const reading = cached.get({ app: APP, token });
        await pause(10);
        expect(await remote.kill({ app: APP, token })).toEqual({ kill: 1 });
        // The read reached Redis before the kill, so it returns the session (its reply is still
        // on the way when the invalidation arrives); it must not be cached.
        if (await reading) raced++;
        if (await cached.get({ app: APP, token })) stale++;
      }
      expect(stale).toBe(0);
      // The race really happened (almost always 10 of 10; a busy machine may delay a read).
      expect(raced).toBeGreaterThanOrEqual(5);
      expect(unhandled.errors).toEqual([]);
      report("cache-delayed-reply-vs-kill", { runs: 10, raced, stale });
    });
  });

  it("after CLIENT KILL TYPE pubsub and a remote kill in the gap, no killed session is served once resubscribed", async () => {
    await withCleanup(async (defer) => {
      const server = await startRedisServer();
      defer(() => server.stop());
      const admin = adminClient(server.url);
      defer(() => admin.disconnect());
      const cached = new RedisSessions({ redis: server.url, cachetime: 60, wipe: 0 });
      const remote = new RedisSessions({ redis: server.url, wipe: 0 });
      defer(() => Promise.all([cached.quit(), remote.quit()]));
      await until(() => cached.cacheStats().active, 2000, "the cache to subscribe");
      const { token } = await remote.create({ app: APP, id: "u", ip: "1.1.1.1" });
      await cached.get({ app: APP, token });
      const hits = cached.cacheStats().hits;
      await cached.get({ app: APP, token });
      expect(cached.cacheStats().hits).toBe(hits + 1);

      expect(await clientKillType(admin, "pubsub")).toBe(1);
      const killedAt = Date.now();
      expect(await remote.kill({ app: APP, token })).toEqual({ kill: 1 });
      // In the gap the invalidation reached no subscriber; the cache must be bypassed.
      let staleInGap = 0;
      while (!cached.cacheStats().active && Date.now() - killedAt < 2000) {
        if (await cached.get({ app: APP, token })) staleInGap++;
        await pause(5);
      }
      const resubscribedMs = Date.now() - killedAt;
      expect(cached.cacheStats().active).toBe(true);
      expect(await cached.get({ app: APP, token })).toBeNull();
      expect(staleInGap).toBe(0);
      report("cache-pubsub-killed", { staleInGap, staleAfter: 0, resubscribedMs });
    });
  });

  it("a Redis restart flushes the cache: nothing cached before it is served during or after the outage", async () => {
    await withCleanup(async (defer) => {
      const server = await startRedisServer();
      defer(() => server.stop());
      const cached = new RedisSessions({
        redis: server.url,
        cachetime: 60,
        timeout: TIMEOUT,
        wipe: 0,
      });
      defer(() => cached.quit());
      await until(() => cached.cacheStats().active, 2000, "the cache to subscribe");
      const { token } = await cached.create({ app: APP, id: "u", ip: "1.1.1.1" });
      await cached.get({ app: APP, token });
      expect(cached.cacheStats().size).toBe(1);

      await server.crash();
      const crashedAt = Date.now();
      await until(() => !cached.cacheStats().active, 1000, "the cache to notice the crash");
      const noticedMs = Date.now() - crashedAt;
      expect(cached.cacheStats().size).toBe(0);
      const during = await timed(() => cached.get({ app: APP, token }));
      expect(during.ok).toBe(false);
      expect(during.code).toMatch(/^ERS_STORE_/);

      await server.restart();
      const back = Date.now();
      await until(() => cached.cacheStats().active, 1000, "the cache to resubscribe");
      const resubscribedMs = Date.now() - back;
      // No persistence: the restarted Redis has no session, and the cache must agree.
      expect(await cached.get({ app: APP, token })).toBeNull();
      report("cache-restart", { noticedMs, resubscribedMs, servedDuringOutage: 0 });
    });
  });
});
