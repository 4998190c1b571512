import type { Redis } from "ioredis";
import v4module from "redis-sessions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions, type StoreOptions } from "../../src/index.js";
import { createEngine } from "../../src/layouts/engine.js";
import { ClusterSide } from "../../src/migrate/cluster-side.js";
import { CompatSide } from "../../src/migrate/compat-side.js";
import { migrate } from "../../src/migrate/migrate.js";
import { runCli } from "../helpers/cli-process.js";
import {
  dumpNamespace,
  namespaceKeys,
  rawClient,
  redisUrl,
  uniqueNamespace,
} from "../helpers/context.js";

// redis-sessions 4 is CommonJS with `exports.default`: Node and Vitest expose it differently.
const RedisSessionsV4 = ((v4module as unknown as { default?: unknown }).default ??
  v4module) as unknown as typeof v4module.default;

const APP = "webapp";

describe("migrate between the compat and the cluster layout", () => {
  let raw: Redis;
  const stores: { quit(): Promise<unknown> }[] = [];
  beforeAll(() => {
    raw = rawClient();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.quit()));
    await raw.quit();
  });

  function open(options: StoreOptions) {
    const store = new RedisSessions({ redis: redisUrl(), wipe: 0, ...options });
    stores.push(store);
    return store;
  }

  /** 30 live sessions of 10 users (one with data, one no_resave) and one expired session. */
  async function seed(namespace: string) {
    const compat = open({ namespace });
    const tokens: { token: string; id: string }[] = [];
    for (let i = 0; i < 30; i++) {
      const id = `user-${i % 10}`;
      const extra = i === 0 ? { d: { cart: 3, name: "Ann" } } : i === 1 ? { no_resave: true } : {};
      const { token } = await compat.create({
        app: APP,
        id,
        ip: `10.0.0.${i}`,
        ttl: 600,
        ...extra,
      });
      tokens.push({ token, id });
    }
    await compat.get({ app: APP, token: tokens[0]?.token ?? "" });
    // Created 100 s ago with a ttl of 10 s (a clock in the past): expired now.
    const past = open({ namespace, clock: () => Date.now() / 1000 - 100 });
    const expired = await past.create({ app: APP, id: "old", ip: "1", ttl: 10 });
    return { compat, tokens, expired: expired.token };
  }

  function sides(from: string, to = from, buckets = 60) {
    return {
      source: new CompatSide(raw, from),
      target: new ClusterSide(raw, to, buckets),
      state: { client: raw, namespace: to },
    };
  }

  it("a dry run counts and writes nothing", async () => {
    const ns = uniqueNamespace("mg");
    const { tokens } = await seed(ns);
    const before = await dumpNamespace(raw, ns);
    const reports = await migrate({ ...sides(ns), dryRun: true });
    expect(reports).toEqual([{ app: APP, copied: 30, unchanged: 0, expired: 1, pruned: 0 }]);
    expect(await dumpNamespace(raw, ns)).toEqual(before);
    const cluster = open({ namespace: ns, layout: "cluster" });
    expect(await cluster.get({ app: APP, token: tokens[0]?.token ?? "" })).toBeNull();
  });

  it("keeps every token working: reads, soid, rotate and killsoid in the cluster layout", async () => {
    const ns = uniqueNamespace("mg");
    const { compat, tokens, expired } = await seed(ns);
    const reports = await migrate(sides(ns));
    expect(reports).toEqual([{ app: APP, copied: 30, unchanged: 0, expired: 1, pruned: 0 }]);
    const cluster = open({ namespace: ns, layout: "cluster" });
    for (const { token, id } of tokens) {
      const before = await compat.get({ app: APP, token });
      const after = await cluster.get({ app: APP, token });
      // The same session: counters (the read count too), data, ip and lifetime (idle and a
      // no_resave ttl move on by a second when the two reads straddle a second boundary).
      expect(after).toEqual({ ...before, idle: after?.idle, ttl: after?.ttl });
      expect(Math.abs((after?.idle ?? 0) - (before?.idle ?? 0))).toBeLessThanOrEqual(1);
      expect(Math.abs((after?.ttl ?? 0) - (before?.ttl ?? 0))).toBeLessThanOrEqual(1);
      expect(after?.id).toBe(id);
    }
    expect(await cluster.get({ app: APP, token: expired })).toBeNull();
    expect(await cluster.activity({ app: APP, deltaTime: 600 })).toEqual({ activity: 10 });
    expect(
      (await cluster.soid({ app: APP, id: "user-3" })).sessions.map((s) => s.token).sort(),
    ).toEqual(
      tokens
        .filter((t) => t.id === "user-3")
        .map((t) => t.token)
        .sort(),
    );
    expect(
      await cluster.set({ app: APP, token: tokens[0]?.token ?? "", d: { cart: 4 } }),
    ).toMatchObject({
      w: 2,
      d: { cart: 4, name: "Ann" },
    });
    const listed = (await cluster.soapp({ app: APP, deltaTime: 600 })).sessions.map((s) => s.token);
    expect(listed.sort()).toEqual(tokens.map((t) => t.token).sort());
    // The cache's batched touch finds migrated tokens too (one of each kind here).
    const fresh = await cluster.create({ app: APP, id: "user-1", ip: "1" });
    const engine = createEngine("cluster", {
      client: raw,
      namespace: ns,
      clock: () => "",
      timeout: 1000,
      buckets: 60,
    });
    const migrated = tokens[1]?.token ?? "";
    const gone = await engine.touch(APP, [migrated, fresh.token, "0".repeat(64)]);
    // The unknown token is reported (and, sharing a bucket with it, maybe the fresh one).
    expect(gone).toContain("0".repeat(64));
    expect(gone).not.toContain(migrated);
    // A migrated token rotates to a token that works at once; the old one is dead.
    const rotated = await cluster.rotate({ app: APP, token: tokens[3]?.token ?? "" });
    expect(await cluster.get({ app: APP, token: rotated?.token ?? "" })).toMatchObject({
      id: "user-3",
    });
    expect(await cluster.get({ app: APP, token: tokens[3]?.token ?? "" })).toBeNull();
    // Log out everywhere reaches migrated and rotated tokens alike.
    expect(await cluster.killsoid({ app: APP, id: "user-3" })).toEqual({ kill: 3 });
    await cluster.kill({ app: APP, ...fresh });
    expect(await cluster.get({ app: APP, token: rotated?.token ?? "" })).toBeNull();
    expect(await cluster.kill({ app: APP, token: tokens[4]?.token ?? "" })).toEqual({ kill: 1 });
    // Running it again copies nothing that the target has as new (the killed ones come back
    // from the source, as the old app still has them: hence --prune at the cut-over).
    const again = await migrate(sides(ns));
    expect(again[0]).toMatchObject({ unchanged: 26, copied: 4, expired: 1 });
  });

  it("resumes an interrupted run from the saved cursor", async () => {
    const ns = uniqueNamespace("mg");
    const { tokens } = await seed(ns);
    let batches = 0;
    await expect(
      migrate({
        ...sides(ns),
        batch: 5,
        onProgress: (p) => {
          if (p.done > 0 && ++batches === 2) throw new Error("interrupted");
        },
      }),
    ).rejects.toThrow("interrupted");
    const resumed = await migrate({ ...sides(ns), batch: 5 });
    expect(resumed[0]?.resumedFrom).toMatch(/^\d+$/);
    const copied = resumed[0]?.copied ?? 0;
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(30);
    const cluster = open({ namespace: ns, layout: "cluster" });
    for (const { token } of tokens) expect(await cluster.get({ app: APP, token })).not.toBeNull();
    expect(await raw.exists(`${ns}:_migrate:compat-cluster:${APP}`)).toBe(0);
  });

  it("prune ends copied sessions that were logged out in the source meanwhile", async () => {
    const ns = uniqueNamespace("mg");
    const { compat, tokens } = await seed(ns);
    await migrate(sides(ns));
    const cluster = open({ namespace: ns, layout: "cluster" });
    const own = await cluster.create({ app: APP, id: "new-user", ip: "1" });
    await compat.kill({ app: APP, token: tokens[5]?.token ?? "" });
    await compat.killsoid({ app: APP, id: "user-6" });
    const reports = await migrate({ ...sides(ns), prune: true });
    expect(reports[0]?.pruned).toBe(4);
    expect(await cluster.get({ app: APP, token: tokens[5]?.token ?? "" })).toBeNull();
    expect(await cluster.soid({ app: APP, id: "user-6" })).toEqual({ sessions: [] });
    expect(await cluster.get({ app: APP, token: tokens[7]?.token ?? "" })).not.toBeNull();
    // A session created in the cluster layout after the switch is not the migration's to end.
    expect(await cluster.get({ app: APP, ...own })).toMatchObject({ id: "new-user" });
  });

  it("and back: cluster to compat, readable by redis-sessions 4.0.0 itself", async () => {
    const ns = uniqueNamespace("mg");
    const back = uniqueNamespace("mb");
    const cluster = open({ namespace: ns, layout: "cluster", buckets: 7 });
    const { token } = await cluster.create({ app: APP, id: "u1", ip: "1.2.3.4", d: { a: 1 } });
    await cluster.create({ app: APP, id: "u2", ip: "1.2.3.4" });
    const reports = await migrate({
      source: new ClusterSide(raw, ns, 7),
      target: new CompatSide(raw, back),
      state: { client: raw, namespace: back },
    });
    expect(reports).toEqual([{ app: APP, copied: 2, unchanged: 0, expired: 0, pruned: 0 }]);
    const v4 = new RedisSessionsV4({ options: { url: redisUrl() }, namespace: back, wipe: 0 });
    stores.push(v4);
    expect(await v4.get({ app: APP, token })).toMatchObject({
      id: "u1",
      ip: "1.2.3.4",
      d: { a: 1 },
    });
    expect(await v4.activity({ app: APP, deltaTime: 600 })).toEqual({ activity: 2 });
    expect(await v4.killsoid({ app: APP, id: "u1" })).toEqual({ kill: 1 });
  });

  it("keeps an absolute end both ways, and does not copy a session past it", async () => {
    const ns = uniqueNamespace("ma");
    const mid = uniqueNamespace("mm");
    const back = uniqueNamespace("mz");
    const compat = open({ namespace: ns });
    const { token } = await compat.create({ app: APP, id: "u1", ip: "1", absolute: 600 });
    const end = (await compat.get({ app: APP, token }))?.expires ?? 0;
    // Created 100 s ago with an absolute end after 50 s: its hash is still there, its end passed.
    const past = open({ namespace: ns, clock: () => Date.now() / 1000 - 100 });
    await past.create({ app: APP, id: "u2", ip: "1", ttl: 3600, absolute: 50 });
    const there = await migrate({
      source: new CompatSide(raw, ns),
      target: new ClusterSide(raw, mid, 7),
      state: { client: raw, namespace: mid },
    });
    expect(there).toEqual([{ app: APP, copied: 1, unchanged: 0, expired: 1, pruned: 0 }]);
    const cluster = open({ namespace: mid, layout: "cluster", buckets: 7 });
    // A migrated token's session lives in its user's bucket (a pointer routes to it).
    const clusterKey = (await namespaceKeys(raw, mid)).find((k) => k.endsWith(`}:${token}`));
    const clusterEnd = Number(await raw.call("PEXPIRETIME", clusterKey ?? "none"));
    expect(Math.abs(clusterEnd - end * 1000)).toBeLessThanOrEqual(2000);
    expect(await cluster.get({ app: APP, token })).toMatchObject({ id: "u1", expires: end });
    await migrate({
      source: new ClusterSide(raw, mid, 7),
      target: new CompatSide(raw, back),
      state: { client: raw, namespace: back },
    });
    const backKey = `${back}:${APP}:${token}`;
    expect(Number(await raw.call("PEXPIRETIME", backKey))).toBe(end * 1000);
  });

  it("the CLI: dry run, copy, summary and progress on stderr", async () => {
    const ns = uniqueNamespace("mc");
    const { tokens } = await seed(ns);
    const args = [
      "migrate",
      "--from",
      "compat",
      "--to",
      "cluster",
      "--redis",
      redisUrl(),
      "-n",
      ns,
    ];
    const dry = await runCli([...args, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain(`${APP}: 30 to copy, 0 unchanged, 1 expired (skipped)`);
    const real = await runCli([...args, "--batch", "7"]);
    expect(real.code).toBe(0);
    expect(real.stderr).toMatch(/progress: 100% 31\/31 webapp \(1\/1\)/);
    expect(real.stderr).toContain(`${APP}: 30 copied, 0 unchanged, 1 expired (skipped)`);
    const cluster = open({ namespace: ns, layout: "cluster" });
    expect(await cluster.get({ app: APP, token: tokens[9]?.token ?? "" })).toMatchObject({
      id: "user-9",
    });
    const bad = await runCli(["migrate", "--from", "compat", "--to", "compat"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from and --to/);
  });
});
