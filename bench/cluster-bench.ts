/**
 * Standalone vs Redis Cluster in one run: throughput of the session path (get + set), the cost
 * of app-wide operations, and the key spread over 3 masters. Starts its own private servers on
 * loopback (a standalone redis-server and a 3-master cluster) and stops them by pid.
 *
 *   npx tsx bench/cluster-bench.ts [seconds per round, default 3] [rounds, default 3]
 */
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { RedisSessions, type StoreOptions } from "../src/index.js";
import { startRedisCluster } from "../test/helpers/redis-cluster.js";
import { startRedisServer } from "../test/helpers/redis-server.js";

const SECONDS = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 3);
const CONCURRENCY = 64;
const SESSIONS = 2000;
const APP = "bench";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function load(
  store: RedisSessions,
  tokens: string[],
  seconds: number,
  latencies: number[],
  counter: { errors: number },
) {
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w; performance.now() < end; i += CONCURRENCY) {
        const token = tokens[i % tokens.length] as string;
        const start = performance.now();
        try {
          // 4 reads for each write, as a typical page mix.
          if (i % 5 === 0) await store.set({ app: APP, token, d: { seen: i } });
          else await store.get({ app: APP, token });
          latencies.push(performance.now() - start);
        } catch {
          counter.errors++;
        }
      }
    }),
  );
}

interface Subject {
  label: string;
  store: RedisSessions;
  tokens: string[];
  rounds: { opsPerSecond: number; p50: number; p99: number; errors: number }[];
}

async function prepare(label: string, options: StoreOptions): Promise<Subject> {
  const store = new RedisSessions({ ...options, namespace: `b${Date.now()}`, wipe: 0 });
  const tokens: string[] = [];
  for (let i = 0; i < SESSIONS; i += 200) {
    const batch = Array.from({ length: 200 }, (_, j) =>
      store.create({ app: APP, id: `user-${i + j}`, ip: "10.0.0.1", d: { n: i + j } }),
    );
    for (const { token } of await Promise.all(batch)) tokens.push(token);
  }
  // One unmeasured second, so that every subject runs on a warm JIT and open connections.
  await load(store, tokens, 1, [], { errors: 0 });
  return { label, store, tokens, rounds: [] };
}

async function measure(subject: Subject): Promise<void> {
  const latencies: number[] = [];
  const counter = { errors: 0 };
  await load(subject.store, subject.tokens, SECONDS, latencies, counter);
  latencies.sort((a, b) => a - b);
  subject.rounds.push({
    opsPerSecond: latencies.length / SECONDS,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors: counter.errors,
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function finish(subject: Subject) {
  const { store } = subject;
  const appWide: Record<string, number> = {};
  for (const [name, op] of [
    ["activity", () => store.activity({ app: APP, deltaTime: 600 })],
    ["soapp", () => store.soapp({ app: APP, deltaTime: 600 })],
    ["killall", () => store.killall({ app: APP })],
  ] as const) {
    const start = performance.now();
    await op();
    appWide[name] = performance.now() - start;
  }
  await store.quit();
  const r = subject.rounds;
  return {
    subject: subject.label,
    "ops/s (median)": Math.round(median(r.map((x) => x.opsPerSecond))),
    "ops/s per round": r.map((x) => Math.round(x.opsPerSecond)).join(" "),
    "p50 ms": Number(median(r.map((x) => x.p50)).toFixed(2)),
    "p99 ms": Number(median(r.map((x) => x.p99)).toFixed(2)),
    errors: r.reduce((n, x) => n + x.errors, 0),
    "activity ms": Number(appWide.activity?.toFixed(1)),
    [`soapp ms (${SESSIONS})`]: Number(appWide.soapp?.toFixed(1)),
    [`killall ms (${SESSIONS})`]: Number(appWide.killall?.toFixed(1)),
  };
}

async function spread(startupNodes: { host: string; port: number }[], masters: Redis[]) {
  const rows = [];
  for (const app of ["webapp", "shop", "mobile"]) {
    for (const buckets of [16, 60, 256]) {
      const namespace = `s${buckets}${app}`;
      const store = new RedisSessions({
        cluster: startupNodes,
        layout: "cluster",
        buckets,
        namespace,
        wipe: 0,
      });
      for (let i = 0; i < 10_000; i += 500) {
        await Promise.all(
          Array.from({ length: 500 }, (_, j) => store.create({ app, id: `u${i + j}`, ip: "1" })),
        );
      }
      const counts = await Promise.all(
        masters.map(async (m) => {
          let cursor = "0";
          let n = 0;
          do {
            const [next, keys] = await m.scan(cursor, "MATCH", `${namespace}:*`, "COUNT", 1000);
            cursor = next;
            n += keys.filter((k) => !k.endsWith("_buckets") && !/:_\w+$/.test(k)).length;
          } while (cursor !== "0");
          return n;
        }),
      );
      const mean = 10_000 / masters.length;
      const dev = Math.max(...counts.map((c) => Math.abs(c - mean) / mean));
      rows.push({
        app,
        buckets,
        "sessions per master": counts.join(" / "),
        "max deviation %": Number((dev * 100).toFixed(1)),
      });
      await store.killall({ app });
      await store.quit();
    }
  }
  return rows;
}

const standalone = await startRedisServer();
const cluster = await startRedisCluster({ masters: 3 });
const masters = (await cluster.topology()).map(
  (s) => new Redis({ host: s.master.host, port: s.master.port }),
);
try {
  console.log(`cluster of 3 masters up in ${cluster.startSeconds.toFixed(1)} s`);
  const subjects = [
    await prepare("standalone, compat layout", { redis: standalone.url }),
    await prepare("standalone, cluster layout", { redis: standalone.url, layout: "cluster" }),
    await prepare("3-master cluster, cluster layout", {
      cluster: cluster.startupNodes,
      layout: "cluster",
    }),
  ];
  // Subjects take turns, so that a change in the machine's load hits them all alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const subject of subjects) await measure(subject);
  }
  const results = [];
  for (const subject of subjects) results.push(await finish(subject));
  console.log(
    `\n${ROUNDS} rounds of ${SECONDS} s per subject, ${CONCURRENCY} concurrent callers, get:set = 4:1, ${SESSIONS} sessions`,
  );
  console.table(results);
  console.log("\nsession hashes per master for 10 000 sessions (10 000 ids)");
  console.table(await spread(cluster.startupNodes, masters));
} finally {
  for (const m of masters) m.disconnect();
  await cluster.stop();
  await standalone.stop();
}
