import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { findRedisServer, findRedisTool, waitForPong } from "./redis-server.js";

/** One redis-server process of a test cluster. */
export interface ClusterNodeProcess {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Kills the process with SIGKILL and waits for it to exit. */
  crash(): Promise<void>;
  /** SIGSTOP: the process stops answering, its sockets stay open. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  readonly alive: boolean;
}

/** A Redis Cluster of private loopback processes, owned by the test that started it. */
export interface RedisCluster {
  readonly nodes: readonly ClusterNodeProcess[];
  /** Seed addresses for ioredis `Cluster` or the store's `cluster` option. */
  readonly startupNodes: { host: string; port: number }[];
  /** Seconds from spawning the processes to `cluster_state:ok` everywhere. */
  readonly startSeconds: number;
  /** The current roles, from `CLUSTER NODES` of a live node. */
  topology(): Promise<ClusterShard[]>;
  /** Stops every process by pid and removes their directories. */
  stop(): Promise<void>;
}

/** A master, the slot ranges it serves and its replicas. */
export interface ClusterShard {
  master: ClusterNodeProcess;
  slots: [number, number][];
  replicas: ClusterNodeProcess[];
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout` in milliseconds. @default 2000 */
  nodeTimeout?: number;
}

/**
 * Why the cluster suites cannot run here, or undefined when they can: they need redis-server 7
 * or newer (for `#!lua` script flags; or valkey-server) with cluster support, and redis-cli (or
 * valkey-cli) to create the cluster.
 */
export function clusterUnsupported(): string | undefined {
  let bin: string;
  try {
    bin = findRedisServer();
  } catch (err) {
    return (err as Error).message;
  }
  if (!findRedisTool("cli")) {
    return "neither redis-cli nor valkey-cli is on PATH (needed for --cluster create)";
  }
  let version = "";
  try {
    version = execFileSync(bin, ["--version"], { encoding: "utf8" });
  } catch (err) {
    return `redis-server --version failed: ${(err as Error).message}`;
  }
  const major = Number(/v=(\d+)\./.exec(version)?.[1] ?? 0);
  if (major < 7) return `${version.trim()} is older than 7.0 (no #!lua script flags)`;
  return undefined;
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(" ")}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** A free port whose cluster-bus port (port + 10000) is free too; below the ephemeral range. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if ((await canListen(port)) && (await canListen(port + 10000))) return port;
  }
}

async function spawnNode(bin: string, dir: string, nodeTimeout: number) {
  const host = "127.0.0.1";
  const port = await clusterPort();
  const args = [
    "--port",
    String(port),
    "--bind",
    host,
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    join(dir, `nodes-${port}.conf`),
    "--cluster-node-timeout",
    String(nodeTimeout),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--repl-diskless-sync-delay",
    "0",
    "--enable-debug-command",
    "local",
    "--loglevel",
    "warning",
  ];
  const child = spawn(bin, args, { stdio: "ignore" });
  child.on("error", () => {});
  await waitForPong(host, port);
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const node: ClusterNodeProcess = {
    host,
    port,
    pid: child.pid ?? -1,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    async crash() {
      signal("SIGKILL");
      await waitForExit(child);
    },
    freeze: () => signal("SIGSTOP"),
    thaw: () => signal("SIGCONT"),
  };
  const stop = async () => {
    signal("SIGCONT");
    signal("SIGKILL");
    await waitForExit(child);
  };
  return { node, stop };
}

async function info(node: ClusterNodeProcess, section: string): Promise<string> {
  const redis = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    retryStrategy: null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    if (section === "cluster") return String(await redis.call("CLUSTER", "INFO"));
    if (section === "nodes") return String(await redis.call("CLUSTER", "NODES"));
    return await redis.info(section);
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts a Redis Cluster on free loopback ports (no persistence) and waits until every node
 * reports `cluster_state:ok` and every replica is in sync. 3 masters take 2–5 s here.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodeTimeout = options.nodeTimeout ?? 2000;
  const started = performance.now();
  const bin = findRedisServer();
  const cli = findRedisTool("cli") ?? "redis-cli";
  const dir = mkdtempSync(join(tmpdir(), "ers-cluster-"));
  const spawned = await Promise.all(
    Array.from({ length: masters * (1 + replicas) }, () => spawnNode(bin, dir, nodeTimeout)),
  );
  const nodes = spawned.map((s) => s.node);
  const stop = async () => {
    await Promise.all(spawned.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(cli, [
      "--cluster",
      "create",
      ...nodes.map((n) => `${n.host}:${n.port}`),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    ]);
    await until("cluster_state:ok on every node", 20_000, async () => {
      const all = await Promise.all(nodes.map((n) => info(n, "cluster")));
      return all.every(
        (text) =>
          text.includes("cluster_state:ok") &&
          text.includes(`cluster_known_nodes:${nodes.length}\r`) &&
          text.includes("cluster_slots_ok:16384"),
      );
    });
    if (replicas > 0) {
      // In sync, and known as replicas by every node (gossip takes a moment to spread roles).
      await until("replicas in sync and known everywhere", 20_000, async () => {
        const all = await Promise.all(nodes.map((n) => info(n, "replication")));
        const linked = all.filter((t) => t.includes("master_link_status:up")).length;
        if (linked !== masters * replicas) return false;
        const views = await Promise.all(nodes.map((n) => info(n, "nodes")));
        return views.every((v) => (v.match(/slave/g) ?? []).length === masters * replicas);
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const startSeconds = (performance.now() - started) / 1000;
  const byPort = new Map(nodes.map((n) => [n.port, n]));
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    startSeconds,
    async topology() {
      const live = nodes.find((n) => n.alive);
      if (!live) return [];
      const redis = new Redis({ host: live.host, port: live.port, retryStrategy: null });
      redis.on("error", () => {});
      let text: string;
      try {
        text = String(await redis.call("CLUSTER", "NODES"));
      } finally {
        redis.disconnect();
      }
      const rows = text
        .trim()
        .split("\n")
        .map((line) => line.split(" "));
      const shards = new Map<string, ClusterShard>();
      for (const [id, address, flags, , , , , , ...slots] of rows) {
        const port = Number(/:(\d+)@/.exec(address ?? "")?.[1]);
        const node = byPort.get(port);
        if (!node || !flags?.includes("master") || flags.includes("fail")) continue;
        const ranges = slots
          .filter((s) => !s.startsWith("["))
          .map((s) => s.split("-").map(Number))
          .map(([a, b]) => [a, b ?? a] as [number, number]);
        if (ranges.length > 0) shards.set(id ?? "", { master: node, slots: ranges, replicas: [] });
      }
      for (const [, address, flags, masterId] of rows) {
        const node = byPort.get(Number(/:(\d+)@/.exec(address ?? "")?.[1]));
        const shard = shards.get(masterId ?? "");
        if (node && shard && flags?.includes("slave") && !flags.includes("fail")) {
          shard.replicas.push(node);
        }
      }
      return [...shards.values()].sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0));
    },
    stop,
  };
}
