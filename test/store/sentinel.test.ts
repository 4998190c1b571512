import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { uniqueNamespace } from "../helpers/context.js";
import {
  findRedisServer,
  freePort,
  type RedisServer,
  startRedisServer,
  waitForPong,
} from "../helpers/redis-server.js";
import { until } from "../helpers/wait.js";

const NAME = "ersmaster";

/** Polls `check` (its failures count as "not yet") until it gives a value; fails after `ms`. */
function settled<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  return until(() => check().catch(() => undefined), { ms, every: 50, what }) as Promise<T>;
}

describe("Redis Sentinel: 1 master, 1 replica, 1 sentinel", () => {
  let master: RedisServer;
  let replica: RedisServer;
  let sentinel: ChildProcess | undefined;
  let sentinelPort = 0;
  let dir = "";
  let store: RedisSessions;

  beforeAll(async () => {
    // Without the default 5 s delay, the replica syncs at once.
    master = await startRedisServer({ args: ["--repl-diskless-sync-delay", "0"] });
    replica = await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
    const replicaProbe = new Redis(replica.url, { retryStrategy: null });
    replicaProbe.on("error", () => {});
    try {
      await settled("the replica to sync", 15_000, async () =>
        (await replicaProbe.info("replication")).includes("master_link_status:up")
          ? true
          : undefined,
      );
    } finally {
      replicaProbe.disconnect();
    }
    sentinelPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), "ers-sentinel-"));
    const conf = join(dir, "sentinel.conf");
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${NAME} 1000`,
        `sentinel failover-timeout ${NAME} 5000`,
        "",
      ].join("\n"),
    );
    sentinel = spawn(findRedisServer(), [conf, "--sentinel"], { stdio: "ignore" });
    sentinel.on("error", () => {});
    await waitForPong("127.0.0.1", sentinelPort);
    const probe = new Redis({ port: sentinelPort, retryStrategy: null });
    probe.on("error", () => {});
    try {
      // The sentinel must know the replica before it can promote it.
      await settled("the sentinel to see the replica", 15_000, async () => {
        const replicas = (await probe.call("SENTINEL", "REPLICAS", NAME)) as string[][];
        const flat = replicas.flat().join(" ");
        return replicas.length === 1 && !flat.includes("disconnected") ? true : undefined;
      });
    } finally {
      probe.disconnect();
    }
    store = new RedisSessions({
      sentinels: [{ host: "127.0.0.1", port: sentinelPort }],
      name: NAME,
      namespace: uniqueNamespace("sn"),
      wipe: 0,
      // Generous: on a loaded 2-core machine (CI runs other suites beside this one) a starved
      // replica's acknowledgement can take seconds; a healthy one answers in a millisecond.
      timeout: 5000,
      durableKill: { replicas: 1, timeout: 4000 },
    });
  }, 30_000);

  afterAll(async () => {
    await store?.quit();
    if (sentinel && sentinel.exitCode === null) {
      const exited = new Promise((r) => sentinel?.once("exit", r));
      sentinel.kill("SIGKILL");
      await exited;
    }
    await replica?.stop();
    await master?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("finds the master through the sentinel and confirms kills on the replica", async () => {
    const { token } = await store.create({ app: "sentinel", id: "u1", ip: "1" });
    expect(await store.get({ app: "sentinel", token })).toMatchObject({ id: "u1" });
    expect(await store.kill({ app: "sentinel", token })).toEqual({ kill: 1, durable: true });
  });

  it("follows a failover: the promoted replica serves the sessions", async () => {
    const { token } = await store.create({ app: "sentinel", id: "u2", ip: "1" });
    // A durable kill of another session makes sure the replica has everything so far.
    const other = await store.create({ app: "sentinel", id: "u3", ip: "1" });
    expect((await store.kill({ app: "sentinel", ...other })).durable).toBe(true);
    const crashed = performance.now();
    await master.crash();
    const session = await settled("a read after the failover", 15_000, async () => {
      return (await store.get({ app: "sentinel", token })) ?? undefined;
    });
    const seconds = (performance.now() - crashed) / 1000;
    console.info(`[sentinel] master killed: reads served again after ${seconds.toFixed(2)} s`);
    expect(session).toMatchObject({ id: "u2" });
    expect(seconds).toBeLessThan(10);
    const { token: fresh } = await store.create({ app: "sentinel", id: "u4", ip: "1" });
    expect(await store.get({ app: "sentinel", token: fresh })).toMatchObject({ id: "u4" });
  }, 30_000);
});
