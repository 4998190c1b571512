import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { keySlot } from "../../src/layouts/cluster/slots.js";
import { ClusterSide } from "../../src/migrate/cluster-side.js";
import { CompatSide } from "../../src/migrate/compat-side.js";
import { migrate } from "../../src/migrate/migrate.js";
import { conformanceSuite, crossSlotErrors } from "../helpers/conformance.js";
import { rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import {
  clusterUnsupported,
  type RedisCluster,
  startRedisCluster,
} from "../helpers/redis-cluster.js";

const unsupported = clusterUnsupported();
if (unsupported) console.warn(`[cluster.test] Redis Cluster suites skipped: ${unsupported}`);

async function countKeys(node: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let n = 0;
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== "0");
  return n;
}

describe.skipIf(unsupported !== undefined)("a real Redis Cluster: 3 masters on loopback", () => {
  let cluster: RedisCluster;
  let masters: Redis[] = [];
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    console.info(`[cluster.test] 3-master cluster ready in ${cluster.startSeconds.toFixed(1)} s`);
    masters = (await cluster.topology()).map(
      (s) => new Redis({ host: s.master.host, port: s.master.port }),
    );
    await Promise.all(masters.map((m) => m.config("RESETSTAT")));
    client = new Cluster(cluster.startupNodes, {
      redisOptions: { commandTimeout: 1000 },
      scaleReads: "master",
    });
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    for (const m of masters) m.disconnect();
    await cluster?.stop();
  });

  describe("conformance: the store's own Cluster, default buckets", () => {
    conformanceSuite(() => ({
      options: { cluster: cluster.startupNodes, layout: "cluster" },
      masters: () => masters,
    }));
  });

  describe("conformance: an ioredis Cluster passed as client, one bucket", () => {
    conformanceSuite(() => ({
      options: { client, layout: "cluster", buckets: 1 },
      masters: () => masters,
    }));
  });

  describe("layout", () => {
    it("computes the slot of every key as the cluster does", async () => {
      const store = new RedisSessions({ client, layout: "cluster", wipe: 0 });
      const { token } = await store.create({ app: "slots", id: "u1", ip: "1" });
      const keys = [
        store.keys.session("slots", token),
        store.keys.sessions("slots"),
        "plain-key",
        "a{}b",
        "{}{x}",
        "x{y}z{w}",
        "é{ü}",
      ];
      for (const key of keys) {
        expect(keySlot(key)).toBe(Number(await masters[0]?.call("CLUSTER", "KEYSLOT", key)));
      }
      await store.quit();
    });

    it("spreads 10 000 sessions evenly over the masters with the default buckets", async () => {
      const namespace = uniqueNamespace("bal");
      const store = new RedisSessions({
        cluster: cluster.startupNodes,
        layout: "cluster",
        namespace,
        wipe: 0,
      });
      const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
      for (let i = 0; i < ids.length; i += 500) {
        await Promise.all(
          ids.slice(i, i + 500).map((id) => store.create({ app: "balance", id, ip: "1" })),
        );
      }
      const perMaster = await Promise.all(masters.map((m) => countKeys(m, `${namespace}:*`)));
      const sessions = perMaster.reduce((a, b) => a + b, 0);
      // 10 000 hashes, 3 index keys per bucket, one registry key.
      expect(sessions).toBe(10_000 + 3 * store.options.buckets + 1);
      const mean = sessions / masters.length;
      const spread = Math.max(...perMaster.map((n) => Math.abs(n - mean) / mean));
      console.info(
        `[cluster.test] keys per master for 10 000 sessions, ${store.options.buckets} buckets: ` +
          `${perMaster.join(" / ")} (largest deviation from the mean ${(spread * 100).toFixed(1)} %)`,
      );
      expect(spread).toBeLessThan(0.2);
      expect(await store.killall({ app: "balance" })).toEqual({ kill: 10_000 });
      await store.quit();
    });

    it("durableKill reports durable: false when no replica can confirm", async () => {
      const store = new RedisSessions({
        cluster: cluster.startupNodes,
        layout: "cluster",
        namespace: uniqueNamespace("dk"),
        wipe: 0,
        durableKill: { replicas: 1, timeout: 100 },
      });
      const { token } = await store.create({ app: "durable", id: "u1", ip: "1" });
      expect(await store.kill({ app: "durable", token })).toEqual({ kill: 1, durable: false });
      await store.quit();
    });
  });

  describe("migration", () => {
    it("moves a standalone compat app onto the cluster, tokens and all", async () => {
      const namespace = uniqueNamespace("mig");
      const compat = new RedisSessions({ redis: redisUrl(), namespace, wipe: 0 });
      const tokens: string[] = [];
      for (let i = 0; i < 40; i++) {
        tokens.push(
          (await compat.create({ app: "moving", id: `u${i % 8}`, ip: "1", d: { i } })).token,
        );
      }
      const standalone = rawClient();
      const reports = await migrate({
        source: new CompatSide(standalone, namespace),
        target: new ClusterSide(client, namespace, 60),
        state: { client, namespace },
      });
      expect(reports).toEqual([{ app: "moving", copied: 40, unchanged: 0, expired: 0, pruned: 0 }]);
      const store = new RedisSessions({ client, layout: "cluster", namespace, wipe: 0 });
      for (const [i, token] of tokens.entries()) {
        expect(await store.get({ app: "moving", token })).toMatchObject({
          id: `u${i % 8}`,
          d: { i },
        });
      }
      expect(await store.killsoid({ app: "moving", id: "u3" })).toEqual({ kill: 5 });
      expect(await store.activity({ app: "moving", deltaTime: 600 })).toEqual({ activity: 7 });
      await Promise.all([store.quit(), compat.quit(), standalone.quit()]);
    });
  });

  describe("after everything above", () => {
    it("no command was refused with CROSSSLOT", async () => {
      expect(await crossSlotErrors(masters)).toBe(0);
    });

    it("would have counted one: a cross-slot script is refused, and so is the compat layout", async () => {
      await expect(client.eval("return 1", 2, "{a}x", "{b}y")).rejects.toThrow(/CROSSSLOT/);
      expect(await crossSlotErrors(masters)).toBeGreaterThan(0);
      expect(() => new RedisSessions({ client, layout: "compat" })).toThrow(/layout/);
      expect(() => new RedisSessions({ cluster: cluster.startupNodes })).toThrow(/layout/);
    });
  });
});
