import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { uniqueNamespace } from "../helpers/context.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { pace, until } from "../helpers/wait.js";
import {
  adminClient,
  clientKillType,
  report,
  timed,
  watchUnhandled,
} from "../robustness/faults/toolbox.js";

/*
 * The cache races (`cachetime`): a process that caches sessions must never serve one that
 * another process killed, once the kill is acknowledged and the invalidation could arrive,
 * whatever happened to its connections meanwhile. redis-sessions 4.0.0 served a killed session
 * in 10 of 10 runs of the first race (the reference's E14). Each race runs 100 times here: a
 * single stale read fails the test.
 */

const TRIALS = 100;
const app = "raceapp";
// Polling fast keeps 100 trials quick; nothing here depends on the poll interval.
const fast = { every: 2 };

let server: RedisServer;
let admin: Redis;
let unhandled: ReturnType<typeof watchUnhandled>;

beforeAll(async () => {
  unhandled = watchUnhandled();
  // A server of its own: CLIENT KILL TYPE pubsub must reach only this file's subscribers.
  server = await startRedisServer();
  admin = adminClient(server.url);
});

afterAll(async () => {
  admin.disconnect();
  await server.stop();
  unhandled.stop();
});

/** Lowest, median and highest of a list of ms figures. */
function spread(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    min: sorted[0],
    median: sorted[Math.floor(sorted.length / 2)],
    max: sorted.at(-1),
  };
}

describe(`cache races (${TRIALS} trials each, zero stale reads)`, () => {
  it("a get whose reply arrives after a remote kill's invalidation does not fill the cache", async () => {
    const proxy = await FaultProxy.start(server);
    const ns = uniqueNamespace();
    const cached = new RedisSessions({ redis: proxy.url, namespace: ns, cachetime: 60, wipe: 0 });
    const remote = new RedisSessions({ redis: server.url, namespace: ns, wipe: 0 });
    try {
      await until(() => cached.cacheStats().active, { what: "the cache to subscribe" });
      // Hold back the replies of the cached store's command connection, as a slow network path
      // would, while invalidations reach its subscriber promptly. Redis lists the subscriber.
      const subs = String(await admin.call("CLIENT", "LIST", "TYPE", "pubsub"));
      const sub = proxy.byRedisAddr(/addr=(\S+)/.exec(subs)?.[1] ?? "");
      const main = [...proxy.connections].find((c) => c !== sub);
      if (!sub || !main) throw new Error("expected a command and a subscriber connection");
      // Load the get script first: a NOSCRIPT round trip would otherwise run the get after the kill.
      await cached.get({ app, token: "0".repeat(64) });
      let stale = 0;
      for (let i = 0; i < TRIALS; i++) {
        const { token } = await remote.create({ app, id: `u${i}`, ip: "::1" });
        main.setMode({ kind: "holdReplies" });
        const replies = main.replies;
        const messages = sub.replies;
        const racing = cached.get({ app, token });
        // Redis has answered the get (the reply waits in the proxy): now kill remotely, and let
        // the invalidation reach the subscriber before the get's reply goes on.
        await until(() => main.replies > replies, { ...fast, what: "the get's reply" });
        expect(await remote.kill({ app, token })).toEqual({ kill: 1 });
        await until(() => sub.replies > messages, { ...fast, what: "the invalidation" });
        await new Promise((r) => setImmediate(r));
        main.setMode({ kind: "pass" });
        // The get ran before the kill, so it returns the session (the race really happened
        // every time); it must not cache it.
        expect((await racing)?.id).toBe(`u${i}`);
        if ((await cached.get({ app, token })) !== null) stale++;
      }
      expect(stale).toBe(0);
      expect(unhandled.errors).toEqual([]);
      report("cache-delayed-reply-vs-kill", { runs: TRIALS, raced: TRIALS, stale });
    } finally {
      await cached.quit();
      await remote.quit();
      await proxy.close();
    }
  });

  it("a kill published while the subscriber reconnects is never masked by the cache", async () => {
    const ns = uniqueNamespace();
    const cached = new RedisSessions({ redis: server.url, namespace: ns, cachetime: 60, wipe: 0 });
    const remote = new RedisSessions({ redis: server.url, namespace: ns, wipe: 0 });
    try {
      let staleInGap = 0;
      let staleAfter = 0;
      let readsInGap = 0;
      const resubscribedMs: number[] = [];
      for (let i = 0; i < TRIALS; i++) {
        await until(() => cached.cacheStats().active, { ...fast, what: "the cache to subscribe" });
        const { token } = await remote.create({ app, id: `u${i}`, ip: "::1" });
        await cached.get({ app, token });
        // The session is really served from memory before the subscriber goes.
        const { hits, flushes } = cached.cacheStats();
        await cached.get({ app, token });
        expect(cached.cacheStats()).toMatchObject({ hits: hits + 1, size: 1 });
        expect(await clientKillType(admin, "pubsub")).toBe(1);
        const killedAt = Date.now();
        await until(() => cached.cacheStats().flushes > flushes, {
          ...fast,
          what: "the cache to notice the lost subscriber",
        });
        // The subscriber is reconnecting: this kill's message reaches nobody.
        expect(await remote.kill({ app, token })).toEqual({ kill: 1 });
        // Read all through the gap: the cache must be bypassed until it is subscribed again.
        do {
          readsInGap++;
          if ((await cached.get({ app, token })) !== null) staleInGap++;
          // Pacing only (each read is a round trip to Redis), not awaiting a condition.
          await pace(1);
        } while (!cached.cacheStats().active && Date.now() - killedAt < 2000);
        resubscribedMs.push(Date.now() - killedAt);
        expect(cached.cacheStats().active, "resubscribed within 2 s").toBe(true);
        if ((await cached.get({ app, token })) !== null) staleAfter++;
      }
      expect({ staleInGap, staleAfter }).toEqual({ staleInGap: 0, staleAfter: 0 });
      expect(unhandled.errors).toEqual([]);
      report("cache-pubsub-killed", {
        runs: TRIALS,
        readsInGap,
        staleInGap,
        staleAfter,
        resubscribedMs: spread(resubscribedMs),
      });
    } finally {
      await cached.quit();
      await remote.quit();
    }
  });

  it("a Redis restart flushes the cache: nothing cached before it is served during or after the outage", async () => {
    const own = await startRedisServer();
    const cached = new RedisSessions({ redis: own.url, cachetime: 60, timeout: 300, wipe: 0 });
    try {
      let stale = 0;
      const noticedMs: number[] = [];
      const resubscribedMs: number[] = [];
      const codes = new Set<string | undefined>();
      for (let i = 0; i < TRIALS; i++) {
        await until(() => cached.cacheStats().active, { ...fast, what: "the cache to subscribe" });
        const { token } = await cached.create({ app, id: `u${i}`, ip: "::1" });
        expect(await cached.get({ app, token })).not.toBeNull();
        expect(cached.cacheStats().size).toBe(1);

        await own.crash();
        const crashedAt = Date.now();
        await until(() => !cached.cacheStats().active, {
          ms: 1000,
          ...fast,
          what: "the cache to notice the crash",
        });
        noticedMs.push(Date.now() - crashedAt);
        expect(cached.cacheStats().size).toBe(0);
        // During the outage the get fails typed: it is not answered from memory.
        const during = await timed(() => cached.get({ app, token }));
        expect(during.ok).toBe(false);
        expect(during.code).toMatch(/^ERS_STORE_/);
        codes.add(during.code);

        // The server keeps nothing on disk: after the restart the session is gone.
        await own.restart();
        const back = Date.now();
        await until(() => cached.cacheStats().active, {
          ms: 1000,
          ...fast,
          what: "the cache to resubscribe",
        });
        resubscribedMs.push(Date.now() - back);
        if ((await cached.get({ app, token })) !== null) stale++;
      }
      expect(stale).toBe(0);
      expect(unhandled.errors).toEqual([]);
      report("cache-restart", {
        runs: TRIALS,
        stale,
        servedDuringOutage: 0,
        codes: [...codes],
        noticedMs: spread(noticedMs),
        resubscribedMs: spread(resubscribedMs),
      });
    } finally {
      await cached.quit();
      await own.stop();
    }
  }, 60_000);
});
