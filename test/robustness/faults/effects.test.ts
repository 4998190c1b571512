import { describe, expect, it } from "vitest";
import { RedisSessions } from "../../../src/index.js";
import { FaultProxy } from "../../helpers/fault-proxy.js";
import { pace, until } from "../../helpers/wait.js";
import { checkInvariants } from "./invariants.js";
import { withCleanup } from "./scenario.js";
import {
  adminClient,
  LIMIT,
  type RedisServer,
  report,
  type Sample,
  setMaxmemory,
  startRedisServer,
  TIMEOUT,
  timed,
  watchUnhandled,
} from "./toolbox.js";

/*
 * Effects under faults: a reply lost before the ack, Redis out of memory, concurrent writers,
 * a write racing a kill. Each scenario owns a private redis-server, and each ends with the
 * raw-key invariant checker (no partial hash, indexes agree with hashes).
 */

const APP = "effects";

type Defer = (cleanup: () => unknown) => void;

async function privateServer(defer: Defer): Promise<RedisServer> {
  const server = await startRedisServer();
  defer(() => server.stop());
  return server;
}

describe("a reply lost before the ack (the proxy drops it and resets the connection)", () => {
  it("create, get, set, kill, rotate and killsoid each fail typed within the timeout and apply exactly once", async () => {
    await withCleanup(async (defer) => {
      const unhandled = watchUnhandled();
      defer(() => unhandled.stop());
      const server = await privateServer(defer);
      const proxy = await FaultProxy.start(server);
      defer(() => proxy.close());
      const admin = adminClient(server.url);
      defer(() => admin.disconnect());
      const store = new RedisSessions({ redis: proxy.url, timeout: TIMEOUT, wipe: 0 });
      defer(() => store.quit());
      const direct = new RedisSessions({ client: admin, wipe: 0 });
      const app = APP;

      // Load every script first: a dropped NOSCRIPT reply would prove nothing.
      const warm = (await store.create({ app, id: "warm", ip: "1.1.1.1", d: { a: 1 } })).token;
      await store.get({ app, token: warm });
      await store.set({ app, token: warm, d: { b: 2 } });
      const rotated = await store.rotate({ app, token: warm });
      await store.kill({ app, token: rotated?.token as string });
      await store.killsoid({ app, id: "warm" });

      const losses: Sample[] = [];
      const recoveries: number[] = [];
      const lose = async (call: () => Promise<unknown>) => {
        proxy.setMode({ kind: "dropNextReplyThenReset" });
        const s = await timed(call);
        losses.push(s);
        const t0 = Date.now();
        // The store must come back by itself: the next call through the proxy succeeds.
        for (;;) {
          if ((await timed(() => store.ping())).ok) break;
          if (Date.now() - t0 > 2000) break;
        }
        recoveries.push(Date.now() - t0);
      };

      await lose(() => store.create({ app, id: "lost-create", ip: "1.1.1.1", d: { x: 1 } }));
      const created = (await direct.soid({ app, id: "lost-create" })).sessions;
      expect(created.map((s) => [s.r, s.w, s.d])).toEqual([[1, 1, { x: 1 }]]);

      const { token } = await direct.create({ app, id: "u", ip: "1.1.1.1" });
      await lose(() => store.get({ app, token }));
      // r counts reads before this one: create 1, the lost get +1, so 2 (not 3).
      expect((await direct.get({ app, token }))?.r).toBe(2);

      await lose(() => store.set({ app, token, d: { y: 2 } }));
      const afterSet = await direct.get({ app, token });
      expect([afterSet?.w, afterSet?.d]).toEqual([2, { y: 2 }]);

      await lose(() => store.rotate({ app, token }));
      expect(await direct.get({ app, token })).toBeNull();
      const rotatedTo = (await direct.soid({ app, id: "u" })).sessions;
      expect(rotatedTo.map((s) => [s.r, s.w, s.d])).toEqual([[4, 2, { y: 2 }]]);
      const next = rotatedTo[0]?.token as string;

      await lose(() => store.kill({ app, token: next }));
      expect(await direct.get({ app, token: next })).toBeNull();
      expect(await direct.kill({ app, token: next })).toEqual({ kill: 0 });

      await direct.create({ app, id: "many", ip: "1.1.1.1" });
      await direct.create({ app, id: "many", ip: "1.1.1.1" });
      await lose(() => store.killsoid({ app, id: "many" }));
      expect((await direct.soid({ app, id: "many" })).sessions).toEqual([]);

      expect(losses.filter((s) => s.ok)).toEqual([]);
      expect(losses.map((s) => s.code).filter((c) => !c?.startsWith("ERS_STORE_"))).toEqual([]);
      expect(losses.filter((s) => s.ms > LIMIT)).toEqual([]);
      expect(recoveries.filter((ms) => ms > 1000)).toEqual([]);
      // Each loss reset the connection (the store may also reconnect on its own after timeouts).
      expect(proxy.stats.accepted).toBeGreaterThanOrEqual(1 + losses.length);
      expect(await checkInvariants(admin, "rs")).toEqual([]);
      expect(unhandled.errors).toEqual([]);
      report("lost-reply", {
        operations: losses.length,
        p100Ms: Math.max(...losses.map((s) => s.ms)),
        codes: [...new Set(losses.map((s) => s.code))],
        recoveryMaxMs: Math.max(...recoveries),
      });
    });
  });
});

describe("Redis out of memory (maxmemory with noeviction)", () => {
  async function oomSetup(defer: Defer) {
    const server = await privateServer(defer);
    const admin = adminClient(server.url);
    defer(() => admin.disconnect());
    const store = new RedisSessions({ redis: server.url, timeout: TIMEOUT, wipe: 0 });
    defer(() => store.quit());
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      tokens.push((await store.create({ app: APP, id: "u", ip: "1.1.1.1", d: { i } })).token);
    }
    const before = await admin.dbsize();
    await setMaxmemory(admin, 1);
    defer(() => setMaxmemory(admin, 0));
    return { server, admin, store, tokens, before };
  }

  it("writes fail with a typed 503 and change nothing; soid, soapp, activity and kill still work; writes resume at once", async () => {
    await withCleanup(async (defer) => {
      const { admin, store, tokens, before } = await oomSetup(defer);
      const create = await timed(() => store.create({ app: APP, id: "v", ip: "1.1.1.1" }));
      const set = await timed(() =>
        store.set({ app: APP, token: tokens[0] as string, d: { z: 1 } }),
      );
      for (const s of [create, set]) {
        expect(s.code).toBe("ERS_STORE_OUT_OF_MEMORY");
        expect((s.error as { status?: number }).status).toBe(503);
        expect(s.ms).toBeLessThanOrEqual(LIMIT);
      }
      expect(await admin.dbsize()).toBe(before);
      const listed = (await store.soid({ app: APP, id: "u" })).sessions;
      const byI = (s: { d?: Record<string, unknown> }) => Number(s.d?.i);
      expect(listed.sort((x, y) => byI(x) - byI(y)).map((s) => [s.w, s.d])).toEqual([
        [1, { i: 0 }],
        [1, { i: 1 }],
        [1, { i: 2 }],
      ]);
      expect((await store.soapp({ app: APP, deltaTime: 60 })).sessions).toHaveLength(3);
      expect(await store.activity({ app: APP, deltaTime: 60 })).toEqual({ activity: 1 });
      // Deleting frees memory, so kill must keep working: logout is never refused.
      expect(await store.kill({ app: APP, token: tokens[2] as string })).toEqual({ kill: 1 });
      expect(await checkInvariants(admin, "rs")).toEqual([]);

      await setMaxmemory(admin, 0);
      const t0 = Date.now();
      await store.create({ app: APP, id: "v", ip: "1.1.1.1" });
      report("out-of-memory", {
        createCode: create.code,
        setCode: set.code,
        createMs: create.ms,
        setMs: set.ms,
        firstCreateAfterLiftMs: Date.now() - t0,
      });
    });
  });

  it("get of a live session still works while Redis is out of memory (its touch is skipped)", async () => {
    await withCleanup(async (defer) => {
      const { store, tokens } = await oomSetup(defer);
      const first = await timed(() => store.get({ app: APP, token: tokens[0] as string }));
      expect(first.ok).toBe(true);
      expect(first.ms).toBeLessThanOrEqual(LIMIT);
      expect((first.value as { d?: unknown } | null)?.d).toEqual({ i: 0 });
      // A missing session is still a clean null, not an OOM error.
      expect(await store.get({ app: APP, token: "N".repeat(64) })).toBeNull();
    });
  });
});

describe("concurrent writers", () => {
  it("200 iterations of two concurrent sets on two connections lose no key (400/400)", async () => {
    await withCleanup(async (defer) => {
      const server = await privateServer(defer);
      const a = new RedisSessions({ redis: server.url, maxDataKeys: 512, wipe: 0 });
      const b = new RedisSessions({ redis: server.url, maxDataKeys: 512, wipe: 0 });
      defer(() => Promise.all([a.quit(), b.quit()]));
      const { token } = await a.create({ app: APP, id: "u", ip: "1.1.1.1" });
      const t0 = Date.now();
      for (let i = 0; i < 200; i++) {
        await Promise.all([
          a.set({ app: APP, token, d: { [`a${i}`]: i } }),
          b.set({ app: APP, token, d: { [`b${i}`]: i } }),
        ]);
      }
      const session = await a.get({ app: APP, token });
      const keys = Object.keys(session?.d ?? {});
      expect(keys.length).toBe(400);
      expect(session?.w).toBe(401);
      const admin = adminClient(server.url);
      defer(() => admin.disconnect());
      expect(await checkInvariants(admin, "rs")).toEqual([]);
      report("concurrent-sets", { iterations: 200, keysKept: keys.length, ms: Date.now() - t0 });
    });
  });

  it("set through a 30 ms delaying proxy racing a direct kill leaves no debris (20 runs)", async () => {
    await withCleanup(async (defer) => {
      const server = await privateServer(defer);
      const proxy = await FaultProxy.start(server);
      defer(() => proxy.close());
      const admin = adminClient(server.url);
      defer(() => admin.disconnect());
      const setter = new RedisSessions({ redis: proxy.url, timeout: 1000, wipe: 0 });
      const killer = new RedisSessions({ redis: server.url, timeout: 1000, wipe: 0 });
      defer(() => Promise.all([setter.quit(), killer.quit()]));
      await setter.ping();
      proxy.setMode({ kind: "delay", up: 30 });
      const outcomes = { setFirst: 0, killFirst: 0 };
      for (let run = 0; run < 20; run++) {
        const { token } = await killer.create({ app: APP, id: `r${run}`, ip: "1.1.1.1" });
        const setting = setter.set({ app: APP, token, d: { run } });
        // Kill between 15 and 45 ms after the set left: before and after it reaches Redis.
        await pace(15 + (run % 4) * 10);
        const [set, kill] = await Promise.all([setting, killer.kill({ app: APP, token })]);
        expect(kill).toEqual({ kill: 1 });
        if (set) outcomes.setFirst++;
        else outcomes.killFirst++;
        expect(await killer.get({ app: APP, token })).toBeNull();
        expect(await admin.exists(`rs:${APP}:${token}`)).toBe(0);
      }
      expect(await checkInvariants(admin, "rs")).toEqual([]);
      expect(await admin.dbsize()).toBe(0);
      // Both orders happened, so the race was really run.
      expect(outcomes.setFirst).toBeGreaterThan(0);
      expect(outcomes.killFirst).toBeGreaterThan(0);
      report("set-vs-kill", { runs: 20, debris: 0, ...outcomes });
    });
  });
});

describe("an empty script cache (after a restart or SCRIPT FLUSH) on a slow link", () => {
  // Script.run answers NOSCRIPT by sending EVAL. ioredis would give the EVAL a fresh
  // commandTimeout (a call could take twice `timeout`), so Script.run gives it only what is left.
  // Here the NOSCRIPT reply takes 250 ms and Redis freezes before the EVAL.
  it("the EVALSHA→NOSCRIPT→EVAL fallback settles within timeout + margin", async () => {
    await withCleanup(async (defer) => {
      const server = await privateServer(defer);
      const proxy = await FaultProxy.start(server);
      defer(() => proxy.close());
      const store = new RedisSessions({ redis: proxy.url, timeout: TIMEOUT, wipe: 0 });
      defer(() => store.quit());
      await store.ping();
      proxy.setMode({ kind: "delay", down: 250 });
      const call = timed(() => store.get({ app: APP, token: "A".repeat(64) }));
      // Redis has answered NOSCRIPT by now; the reply is still on its way. Freeze before EVAL.
      await until(() => proxy.heldReplies() > 0, { what: "the NOSCRIPT reply on its way" });
      server.freeze();
      defer(() => server.thaw());
      const s = await call;
      server.thaw();
      report("noscript-fallback", { ms: s.ms, ok: s.ok, code: s.code, limit: LIMIT });
      expect(s.ms).toBeLessThanOrEqual(LIMIT);
    });
  });
});
