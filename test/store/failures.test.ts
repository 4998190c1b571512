import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from "vitest";
import {
  isStoreError,
  RedisSessions,
  RedisSessionsError,
  type StoreOptions,
} from "../../src/index.js";
import { runStoreScript } from "../helpers/child.js";
import { uniqueNamespace } from "../helpers/context.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { freePort, type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { storePool } from "../helpers/stores.js";
import { retry, until } from "../helpers/wait.js";

/*
 * Redis failing under the store: refused connections, a frozen server, a lost reply, a black hole,
 * out of memory. Uses private redis-servers only (they are crashed and frozen here).
 */

const TIMEOUT = 300;
// "Settles within timeout + margin": generous, this only proves that nothing hangs.
const BOUND = TIMEOUT + 1000;
const base = { app: "test", ip: "127.0.0.1" } as const;

let server: RedisServer;
const stores = storePool(() => ({ timeout: TIMEOUT }));
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
let consoleError: MockInstance<typeof console.error>;

beforeAll(async () => {
  process.on("uncaughtException", onUnhandled);
  process.on("unhandledRejection", onUnhandled);
  // ioredis prints "[ioredis] Unhandled error event" when a client has no 'error' listener.
  consoleError = vi.spyOn(console, "error");
  server = await startRedisServer();
});
afterAll(async () => {
  process.off("uncaughtException", onUnhandled);
  process.off("unhandledRejection", onUnhandled);
  consoleError.mockRestore();
  await stores.quitAll();
  await server.stop();
});

/** A store on `url` in a namespace of its own, with the short timeout of this file. */
const open = (url: string, options: StoreOptions = {}) => stores.open({ redis: url, ...options });

interface Outcome {
  call: string;
  ms: number;
  err: RedisSessionsError | undefined;
}

/** Runs every store method at once and reports how each settled and when. */
function everyCall(rs: RedisSessions, token: string): Promise<Outcome[]> {
  const p = { app: "test", token };
  const calls: Record<string, () => Promise<unknown>> = {
    create: () => rs.create({ ...base, id: "user1" }),
    get: () => rs.get(p),
    set: () => rs.set({ ...p, d: { a: 1 } }),
    kill: () => rs.kill(p),
    rotate: () => rs.rotate(p),
    activity: () => rs.activity({ app: "test", deltaTime: 60 }),
    soapp: () => rs.soapp({ app: "test", deltaTime: 60 }),
    soid: () => rs.soid({ app: "test", id: "user1" }),
    killsoid: () => rs.killsoid({ app: "test", id: "nobody" }),
    killall: () => rs.killall({ app: "empty" }),
    ping: () => rs.ping(),
    wipe: () => rs.wipe(),
  };
  return Promise.all(
    Object.entries(calls).map(async ([call, fn]) => {
      const started = performance.now();
      try {
        await fn();
        return { call, ms: performance.now() - started, err: undefined };
      } catch (err) {
        return { call, ms: performance.now() - started, err: err as RedisSessionsError };
      }
    }),
  );
}

function expectAllFailedFast(outcomes: Outcome[], codes: string[]) {
  for (const o of outcomes) {
    expect({ call: o.call, failed: o.err !== undefined }).toEqual({ call: o.call, failed: true });
    expect({ call: o.call, code: codes.includes(o.err?.code ?? "") }).toEqual({
      call: o.call,
      code: true,
    });
    expect({ call: o.call, fast: o.ms < BOUND }).toEqual({ call: o.call, fast: true });
  }
}

describe("Redis down (connection refused)", () => {
  it("a store created while Redis is down works once Redis starts", async () => {
    const port = await freePort();
    const rs = open(`redis://127.0.0.1:${port}`);
    const started = performance.now();
    const err = await rs.get({ app: "test", token: "a".repeat(64) }).catch((e: unknown) => e);
    expect(isStoreError(err)).toBe(true);
    expect(performance.now() - started).toBeLessThan(BOUND);
    const late = await startRedisServer({ port });
    try {
      const { value, ms } = await retry(() => rs.create({ ...base, id: "user1" }));
      expect((await rs.get({ app: "test", token: value.token }))?.id).toBe("user1");
      // Reconnect backoff is capped at 500 ms.
      expect(ms).toBeLessThan(1500);
    } finally {
      await late.stop();
    }
  });

  it("says which Redis is down and why (ECONNREFUSED), never its password", async () => {
    const port = await freePort();
    const rs = open(`redis://:hunter2@127.0.0.1:${port}/2?password=hunter3`);
    const err = await rs.get({ app: "test", token: "a".repeat(64) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERS_STORE_UNAVAILABLE", status: 503 });
    const { message, cause } = err as RedisSessionsError;
    expect(message).toBe(
      `Redis at 127.0.0.1:${port} is unavailable: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(message).not.toContain("maxRetriesPerRequest");
    // The client's own error stays available.
    expect((cause as Error).message).toMatch(/max retries per request/);
  });

  it("every call fails with a 503 store error within timeout + margin, then recovers", async () => {
    const rs = open(server.url, { cachetime: 5 });
    const { token } = await rs.create({ ...base, id: "user1" });
    await server.crash();
    const first = await everyCall(rs, token);
    expectAllFailedFast(first, ["ERS_STORE_UNAVAILABLE", "ERS_STORE_TIMEOUT"]);
    // Still bounded while the client keeps retrying in the background.
    expectAllFailedFast(await everyCall(rs, token), ["ERS_STORE_UNAVAILABLE", "ERS_STORE_TIMEOUT"]);

    const err = first.find((o) => o.call === "get")?.err;
    expect(err).toBeInstanceOf(RedisSessionsError);
    expect(err).toMatchObject({ name: "storeUnavailable", status: 503, expose: false });
    expect(err?.cause).toBeInstanceOf(Error);
    expect(isStoreError(err)).toBe(true);

    await server.restart();
    const { value, ms } = await retry(() => rs.create({ ...base, id: "user2" }));
    expect(value.token).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(ms).toBeLessThan(1500);
    // The server lost its data in the crash; the store works normally again.
    expect(await rs.get({ app: "test", token: value.token })).toMatchObject({ id: "user2", r: 1 });
  });
});

describe("Redis frozen (SIGSTOP)", () => {
  it("every call times out within timeout + margin with ERS_STORE_TIMEOUT, then recovers", async () => {
    const rs = open(server.url, { cachetime: 5 });
    const { token } = await rs.create({ ...base, id: "user1" });
    server.freeze();
    try {
      const outcomes = await everyCall(rs, token);
      expectAllFailedFast(outcomes, ["ERS_STORE_TIMEOUT"]);
      const err = outcomes[0]?.err;
      expect(err).toMatchObject({ name: "storeUnavailable", status: 503 });
      expect(String((err?.cause as Error | undefined)?.message)).toMatch(/timed out/);
    } finally {
      server.thaw();
    }
    const { ms } = await retry(() => rs.get({ app: "test", token }));
    expect(ms).toBeLessThan(1000);
  });

  it("quit settles while Redis is frozen", async () => {
    const rs = open(server.url, { cachetime: 5 });
    await rs.ping();
    server.freeze();
    try {
      const started = performance.now();
      await rs.quit();
      expect(performance.now() - started).toBeLessThan(BOUND + 500);
    } finally {
      server.thaw();
    }
  });
});

describe("lost replies and black holes (TCP proxy)", () => {
  let proxy: FaultProxy;
  let admin: Redis;

  beforeAll(async () => {
    proxy = await FaultProxy.start(server);
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin.quit();
    await proxy.close();
  });

  const field = async (rs: RedisSessions, token: string, name: string) =>
    Number(await admin.hget(`${rs.options.namespace}:test:${token}`, name));

  it("a get or set whose reply is lost and connection reset is applied exactly once", async () => {
    const rs = open(proxy.url);
    const { token } = await rs.create({ ...base, id: "user1" });
    const p = { app: "test", token };
    await rs.get(p);
    expect(await field(rs, token, "r")).toBe(2);

    proxy.setMode({ kind: "dropNextReplyThenReset" });
    const started = performance.now();
    const err = await rs.get(p).catch((e: unknown) => e);
    expect(isStoreError(err)).toBe(true);
    expect(performance.now() - started).toBeLessThan(BOUND);
    expect(proxy.stats.dropped).toBe(1);
    // The next get goes through once reconnected; had the lost one been resent, r would be 5.
    await retry(() => rs.get(p));
    expect(await field(rs, token, "r")).toBe(4);

    // A first set loads its script, so the reply dropped next is the set's own.
    expect((await rs.set({ ...p, d: { a: 0 } }))?.w).toBe(2);
    proxy.setMode({ kind: "dropNextReplyThenReset" });
    expect(isStoreError(await rs.set({ ...p, d: { a: 1 } }).catch((e: unknown) => e))).toBe(true);
    expect(proxy.stats.dropped).toBe(2);
    const { value } = await retry(() => rs.set({ ...p, d: { b: 2 } }));
    expect(value?.w).toBe(4);
    expect(await field(rs, token, "w")).toBe(4);
    expect(value?.d).toEqual({ a: 1, b: 2 });
  });

  it("control: with ioredis' autoResendUnfulfilledCommands the lost get is applied twice", async () => {
    const rs = open(server.url, {
      redis: { host: "127.0.0.1", port: proxy.port, autoResendUnfulfilledCommands: true },
    });
    const { token } = await rs.create({ ...base, id: "user1" });
    proxy.setMode({ kind: "dropNextReplyThenReset" });
    await retry(() => rs.get({ app: "test", token }));
    expect(await field(rs, token, "r")).toBe(3);
  });

  it("a slow link answers below the timeout and times out above it", async () => {
    const rs = open(proxy.url);
    const { token } = await rs.create({ ...base, id: "user1" });
    try {
      proxy.setMode({ kind: "delay", up: 50, down: 50 });
      expect((await rs.get({ app: "test", token }))?.id).toBe("user1");
      proxy.setMode({ kind: "delay", up: TIMEOUT + 300, down: TIMEOUT + 300 });
      const started = performance.now();
      const err = (await rs
        .get({ app: "test", token })
        .catch((e: unknown) => e)) as RedisSessionsError;
      expect(err.code).toBe("ERS_STORE_TIMEOUT");
      expect(performance.now() - started).toBeLessThan(BOUND);
    } finally {
      proxy.setMode({ kind: "pass" });
    }
  });

  it("a black hole (nothing answers, nothing closes): every call settles within timeout + margin", async () => {
    const hole = await FaultProxy.start(server);
    try {
      const rs = open(hole.url);
      const { token } = await rs.create({ ...base, id: "user1" });
      hole.setMode({ kind: "blackhole", swallow: true });
      expectAllFailedFast(await everyCall(rs, token), ["ERS_STORE_TIMEOUT"]);
      const started = performance.now();
      await rs.quit();
      expect(performance.now() - started).toBeLessThan(BOUND + 500);
    } finally {
      await hole.close();
    }
  });

  it("recovers from a black hole: after timeouts in a row it drops the dead connection", async () => {
    const hole = await FaultProxy.start(server);
    try {
      const rs = open(hole.url);
      const { token } = await rs.create({ ...base, id: "user1" });
      hole.setMode({ kind: "blackhole", swallow: true });
      // The swallowed requests never get replies: on the old connection every later reply would
      // be matched to an older, timed-out command, so only a new connection can recover.
      for (let i = 0; i < 3; i++) {
        await expect(rs.get({ app: "test", token })).rejects.toMatchObject({
          code: "ERS_STORE_TIMEOUT",
        });
      }
      hole.setMode({ kind: "pass" });
      const healed = performance.now();
      let session = null;
      while (!session) {
        session = await rs.get({ app: "test", token }).catch(() => null);
        if (performance.now() - healed > 10 * TIMEOUT) break;
      }
      expect(session?.id).toBe("user1");
      console.log(
        `black hole: first success ${Math.round(performance.now() - healed)} ms after the path healed`,
      );
    } finally {
      await hole.close();
    }
  });
});

describe("out of memory", () => {
  it("create fails with ERS_STORE_OUT_OF_MEMORY; get, kill and the wipe still work", async () => {
    const oom = await startRedisServer();
    const admin = new Redis(oom.url);
    try {
      const clock = { t: 1_700_000_000 };
      const rs = open(oom.url, { clock: () => clock.t });
      const { token } = await rs.create({ ...base, id: "user1", d: { a: 1 } });
      const other = await rs.create({ ...base, id: "user2" });
      await rs.create({ ...base, id: "expiring", ttl: 10 });
      const stale = await rs.create({ ...base, id: "stale", ttl: 100 });
      // A live session whose expiry score lags: the wipe re-scores it (a write Redis may refuse).
      await admin.zadd(`${rs.options.namespace}:SESSIONS`, 1, `test:${stale.token}:stale`);
      const info = await admin.info("memory");
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", String(used + 1024 * 1024));
      // Fill it up: big values first, then small ones until not even those fit.
      for (const size of [100_000, 100]) {
        for (let i = 0; ; i++) {
          const ok = await admin.set(`fill:${size}:${i}`, "x".repeat(size)).catch(() => null);
          if (!ok) break;
        }
      }
      const err = (await rs
        .create({ ...base, id: "user3" })
        .catch((e: unknown) => e)) as RedisSessionsError;
      expect(err).toBeInstanceOf(RedisSessionsError);
      expect(err).toMatchObject({
        name: "storeUnavailable",
        code: "ERS_STORE_OUT_OF_MEMORY",
        status: 503,
      });
      expect((err.cause as Error).message).toMatch(/^OOM/);
      expect(
        await rs.set({ app: "test", token, d: { b: 2 } }).catch((e: RedisSessionsError) => e),
      ).toMatchObject({ code: "ERS_STORE_OUT_OF_MEMORY" });
      // Reads are served (not counted: counting is a write), and logout still works.
      expect(await rs.get({ app: "test", token })).toMatchObject({ id: "user1", d: { a: 1 } });
      expect(await rs.get({ app: "test", token })).toMatchObject({ id: "user1", r: 1 });
      expect(await rs.kill({ app: "test", token: other.token })).toEqual({ kill: 1 });
      // The timer's wipe (lease first) frees memory by removing expired sessions.
      clock.t += 11;
      const wiper = (rs as unknown as { wiper: { run(): Promise<number> } }).wiper;
      expect(await wiper.run()).toBe(1);
      expect(await rs.get({ app: "test", token: stale.token })).toMatchObject({ id: "stale" });
      await admin.config("SET", "maxmemory", "0");
      expect((await rs.get({ app: "test", token }))?.r).toBe(1);
      expect((await rs.get({ app: "test", token }))?.r).toBe(2);
    } finally {
      await admin.quit();
      await oom.stop();
    }
  });
});

describe("quit", () => {
  it("closes every connection the store opened (main and cache subscriber)", async () => {
    const name = `ers-${uniqueNamespace()}`;
    const rs = new RedisSessions({
      redis: { host: server.host, port: server.port, connectionName: name },
      namespace: uniqueNamespace(),
      cachetime: 10,
      wipe: 10,
      timeout: TIMEOUT,
    });
    const admin = new Redis(server.url);
    try {
      const count = async () =>
        String(await admin.client("LIST"))
          .split("\n")
          .filter((l) => l.includes(`name=${name}`)).length;
      await until(() => rs.cacheStats().active, { what: "the cache to subscribe" });
      const { token } = await rs.create({ ...base, id: "user1" });
      await rs.get({ app: "test", token });
      expect(await count()).toBe(2);
      await rs.quit();
      await until(async () => (await count()) === 0 && rs.redis.status === "end", {
        ms: 2000,
        what: "every connection to close",
      });
    } finally {
      await rs.quit();
      await admin.quit();
    }
  });

  it("lets a process with cachetime and a wipe timer exit by itself", async () => {
    const { code, stdout } = await runStoreScript(
      `
      const rs = new RedisSessions({ redis: process.env.REDIS_URL, cachetime: 10, wipe: 10, namespace: "child" });
      const deadline = Date.now() + 3000;
      while (!rs.cacheStats().active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const { token } = await rs.create({ app: "test", id: "child", ip: "127.0.0.1" });
      await rs.get({ app: "test", token });
      await rs.get({ app: "test", token });
      console.log(JSON.stringify(rs.cacheStats()));
      await rs.quit();
    `,
      { REDIS_URL: server.url },
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ hits: 1, active: true });
  });
});

describe("no unhandled errors", () => {
  it("nothing above raised an uncaught exception, an unhandled rejection or an unhandled 'error'", () => {
    expect(unhandled).toEqual([]);
    const ioredisComplaints = consoleError.mock.calls.filter((args) =>
      String(args[0]).includes("Unhandled error event"),
    );
    expect(ioredisComplaints).toEqual([]);
  });
});
