import { Redis } from "ioredis";
import { Redis as Valkey, Cluster as ValkeyCluster } from "iovalkey";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisClient, RedisSessions, type StoreOptions } from "../../src/index.js";
import { conformanceSuite } from "../helpers/conformance.js";
import { uniqueNamespace } from "../helpers/context.js";
import {
  clusterUnsupported,
  type RedisCluster,
  startRedisCluster,
} from "../helpers/redis-cluster.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/wait.js";

/*
 * The store with the iovalkey client (Valkey's fork of ioredis) instead of ioredis: plain and
 * Redis Cluster, cache on and off, and the NOSCRIPT fallback after SCRIPT FLUSH, which must go
 * through the client's public `eval`. Private servers: SCRIPT FLUSH and CONFIG RESETSTAT here
 * must not reach other test files.
 */

const unsupported = clusterUnsupported();
if (unsupported) console.warn(`[iovalkey.test] Redis Cluster suite skipped: ${unsupported}`);

/** iovalkey's classes are ioredis' under another package: the same API, their own types. */
const asClient = (client: Valkey | ValkeyCluster) => client as unknown as RedisClient;

/** `calls` of one command in INFO commandstats, summed over `masters`. */
async function calls(masters: Redis[], command: string): Promise<number> {
  let n = 0;
  for (const m of masters) {
    const info = await m.info("commandstats");
    n += Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  }
  return n;
}

/**
 * Every store operation once, then SCRIPT FLUSH on every master and a write and a read: they
 * must succeed through EVAL (the script cache is empty) and load the scripts again.
 */
async function everyOperation(store: RedisSessions, masters: Redis[], cachetime: number) {
  const app = "valkeyapp";
  const { token } = await store.create({ app, id: "u1", ip: "10.0.0.1", d: { a: 1 } });
  expect(await store.get({ app, token })).toMatchObject({ id: "u1", d: { a: 1 } });
  if (cachetime > 0) {
    await until(() => store.cacheStats().active, { what: "the cache to subscribe" });
    await store.get({ app, token });
    await store.get({ app, token });
    expect(store.cacheStats().hits).toBeGreaterThan(0);
  }
  expect(await store.set({ app, token, d: { b: "x" } })).toMatchObject({ d: { a: 1, b: "x" } });
  const rotated = await store.rotate({ app, token });
  expect(await store.get({ app, token })).toBeNull();
  const current = rotated?.token ?? "";
  expect((await store.soid({ app, id: "u1" })).sessions.map((s) => s.token)).toEqual([current]);
  expect(await store.activity({ app, deltaTime: 60 })).toEqual({ activity: 1 });
  expect((await store.soapp({ app, deltaTime: 60 })).sessions).toHaveLength(1);

  await Promise.all(masters.map((m) => m.script("FLUSH")));
  const evals = await calls(masters, "eval");
  expect(await store.set({ app, token: current, d: { c: true } })).toMatchObject({
    d: { a: 1, b: "x", c: true },
  });
  expect(await store.get({ app, token: current })).toMatchObject({ d: { c: true } });
  expect(await calls(masters, "eval")).toBeGreaterThan(evals);

  expect(await store.kill({ app, token: current })).toEqual({ kill: 1 });
  // A killed session is never served from the cache.
  expect(await store.get({ app, token: current })).toBeNull();
  await store.create({ app, id: "u2", ip: "1" });
  await store.create({ app, id: "u2", ip: "1" });
  expect(await store.killsoid({ app, id: "u2" })).toEqual({ kill: 2 });
  await store.create({ app, id: "u3", ip: "1" });
  expect(await store.killall({ app })).toEqual({ kill: 1 });
  expect(await store.wipe()).toBeGreaterThanOrEqual(0);
  expect(await store.ping()).toBe("PONG");
}

describe("iovalkey, one server", () => {
  let server: RedisServer;
  let client: Valkey;
  let raw: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    client = new Valkey(server.url, { commandTimeout: 1000 });
    raw = new Redis(server.url);
  });

  afterAll(async () => {
    client?.disconnect();
    raw?.disconnect();
    await server?.stop();
  });

  describe("conformance: compat layout", () => {
    conformanceSuite(() => ({ options: { client: asClient(client) }, masters: () => [raw] }));
  });

  describe("conformance: cluster layout", () => {
    conformanceSuite(() => ({
      options: { client: asClient(client), layout: "cluster" },
      masters: () => [raw],
    }));
  });

  it.each<[string, StoreOptions]>([
    ["compat, no cache", {}],
    ["compat, cache", { cachetime: 5 }],
    ["cluster layout, no cache", { layout: "cluster" }],
    ["cluster layout, cache", { layout: "cluster", cachetime: 5 }],
  ])("%s: every operation, and the NOSCRIPT fallback after SCRIPT FLUSH", async (_, options) => {
    const store = new RedisSessions({
      client: asClient(client),
      namespace: uniqueNamespace("vk"),
      wipe: 0,
      ...options,
    });
    try {
      await everyOperation(store, [raw], options.cachetime ?? 0);
    } finally {
      await store.quit();
    }
    // The client is the app's: the store leaves it open.
    expect(client.status).toBe("ready");
  });
});

describe.skipIf(unsupported !== undefined)("iovalkey, a real Redis Cluster", () => {
  let cluster: RedisCluster;
  let client: ValkeyCluster;
  let masters: Redis[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    masters = (await cluster.topology()).map(
      (s) => new Redis({ host: s.master.host, port: s.master.port }),
    );
    client = new ValkeyCluster(cluster.startupNodes, {
      redisOptions: { commandTimeout: 1000 },
      scaleReads: "master",
    });
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    for (const m of masters) m.disconnect();
    await cluster?.stop();
  });

  describe("conformance", () => {
    conformanceSuite(() => ({
      options: { client: asClient(client), layout: "cluster" },
      masters: () => masters,
    }));
  });

  it.each([0, 5])(
    "cachetime %d: every operation, and the NOSCRIPT fallback after SCRIPT FLUSH",
    async (cachetime) => {
      const store = new RedisSessions({
        client: asClient(client),
        layout: "cluster",
        namespace: uniqueNamespace("vkc"),
        wipe: 0,
        cachetime,
      });
      try {
        await everyOperation(store, masters, cachetime);
      } finally {
        await store.quit();
      }
    },
  );
});
