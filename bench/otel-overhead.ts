/**
 * What the OpenTelemetry bridge costs when no SDK is registered: the HTTP bench's `GET /` (a
 * session read per request) against two servers, the middleware with `openTelemetry: false` and
 * as it runs by default (@opentelemetry/api installed, no SDK: the API's no-op tracer and meter
 * do the work). Interleaved short runs on a private redis-server, so that a shared machine's
 * drift hits both alike; ratios are taken per repetition.
 *
 * Usage: npx tsx bench/otel-overhead.ts [--reps 9] [--seconds 2] [--store | --micro] [--swap]
 */
import { RedisSessions } from "../src/index.js";
import type { SessionEngine } from "../src/layouts/engine.js";
import { Instrumentation } from "../src/observability/instrument.js";
import { AppLabels } from "../src/observability/labels.js";
import { loadOpenTelemetry, openTelemetryListener } from "../src/observability/otel.js";
import { telemetryOf } from "../src/observability/telemetry.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { readConfig } from "./config.js";
import { httpBench } from "./http-bench.js";
import { pool, ratio, type Summary, summarize } from "./stats.js";
import { TELEMETRY_VARIANTS } from "./variants.js";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const show = (s: Summary, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

/**
 * The same in one process, closer to the instrumentation: CPU µs per `store.get` (100 in
 * flight) of three stores, interleaved: the bridge off, off with an empty listener (the
 * instrumentation's own cost), and on; the CPU includes ioredis and the reply.
 */
const ORDERS = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
  [1, 0, 2],
  [0, 2, 1],
];

async function storeCost(url: string, reps: number): Promise<void> {
  const make = (openTelemetry: boolean) =>
    new RedisSessions({ redis: url, namespace: "bench-otel", wipe: 0, openTelemetry });
  const stores = [make(false), make(false), make(true)] as const;
  telemetryOf(stores[1])?.listen({ start: () => undefined, end: () => {} });
  try {
    const { token } = await stores[0].create({ app: "bench", id: "u", ip: "::1" });
    const cpu = async (store: RedisSessions, n: number) => {
      const start = process.cpuUsage();
      await pool(n, 100, async () => {
        await store.get({ app: "bench", token });
      });
      const used = process.cpuUsage(start);
      return (used.user + used.system) / n;
    };
    for (const store of stores) await cpu(store, 20_000);
    const runs: number[][] = [[], [], []];
    for (let rep = 0; rep < reps; rep++) {
      // Every order in turn, so that no store always runs after the same one.
      for (const i of ORDERS[rep % ORDERS.length] ?? []) {
        runs[i]?.push(await cpu(stores[i] as RedisSessions, 20_000));
      }
    }
    const [off = [], empty = [], on = []] = runs;
    console.log(
      `store.get CPU µs/call: off ${show(summarize(off), 2)}, empty listener ${show(summarize(empty), 2)}, on ${show(summarize(on), 2)}`,
    );
    console.log(
      `per run, empty listener ÷ off: ${show(ratio(empty, off), 3)}; on ÷ off: ${show(ratio(on, off), 3)}`,
    );
  } finally {
    await Promise.all(stores.map((s) => s.quit()));
  }
}

/**
 * The instrumentation alone: ns per call of an engine whose `get` answers at once, bare and
 * with the OpenTelemetry listener (no SDK), interleaved; no Redis, no I/O.
 */
async function instrumentationCost(reps: number): Promise<void> {
  const engine = { get: () => Promise.resolve(null) } as unknown as SessionEngine;
  const redis = { describe: () => "Redis", lastError: () => undefined, owned: true };
  const probe = {
    layout: "compat" as const,
    namespace: "rs",
    cacheStats: () => ({}) as never,
    redisReady: () => true,
  };
  const bare = new Instrumentation({ layout: "compat", namespace: "rs", redis });
  const traced = new Instrumentation({ layout: "compat", namespace: "rs", redis });
  const otel = loadOpenTelemetry();
  if (!otel) throw new Error("@opentelemetry/api is not installed");
  traced.listen(openTelemetryListener(otel, probe, new AppLabels(0)).listener);
  const engines = [bare.wrap(engine), traced.wrap(engine)];
  const ns: number[][] = [[], []];
  for (let rep = 0; rep < reps + 1; rep++) {
    for (const i of rep % 2 === 0 ? [0, 1] : [1, 0]) {
      const n = 200_000;
      const start = performance.now();
      for (let k = 0; k < n; k++) await (engines[i] as SessionEngine).get("bench", "token");
      // The first repetition warms the JIT up.
      if (rep > 0) ns[i]?.push(((performance.now() - start) * 1e6) / n);
    }
  }
  console.log(`ns per call, no listener: ${show(summarize(ns[0] ?? []))}`);
  console.log(`ns per call, OpenTelemetry without an SDK: ${show(summarize(ns[1] ?? []))}`);
}

async function main(): Promise<void> {
  const base = readConfig([], {});
  const cfg = {
    ...base,
    http: { ...base.http, reps: arg("reps", 9), seconds: arg("seconds", 2), warmupSeconds: 1 },
  };
  if (process.argv.includes("--micro")) return instrumentationCost(arg("reps", 9));
  const redis = await startRedisServer();
  try {
    if (process.argv.includes("--store")) return await storeCost(redis.url, cfg.http.reps);
    // --swap starts the servers the other way round: a bias of the process order shows.
    const swap = process.argv.includes("--swap");
    const rows = await httpBench(
      cfg,
      redis.url,
      (line) => console.error(line),
      swap ? [...TELEMETRY_VARIANTS].reverse() : TELEMETRY_VARIANTS,
    );
    const [off, on] = swap ? rows.reverse() : rows;
    if (!off || !on) throw new Error("missing variant");
    const rps = ratio(on.rps.samples, off.rps.samples);
    const cpu = ratio(on.serverCpu.samples, off.serverCpu.samples);
    console.log(
      `${cfg.http.reps} interleaved runs of ${cfg.http.seconds} s, ${cfg.http.connections} connections`,
    );
    console.log("| server | requests/s | server CPU µs/request |");
    console.log("|---|---:|---:|");
    for (const row of [off, on]) {
      console.log(`| ${row.label} | ${show(row.rps)} | ${show(row.serverCpu, 1)} |`);
    }
    console.log(`\nrequests/s, on ÷ off per run: ${show(rps, 3)}`);
    console.log(`server CPU per request, on ÷ off per run: ${show(cpu, 3)}`);
    console.log(`samples on÷off rps: ${rps.samples.map((x) => x.toFixed(3)).join(" ")}`);
    console.log(`samples on÷off cpu: ${cpu.samples.map((x) => x.toFixed(3)).join(" ")}`);
  } finally {
    await redis.stop();
  }
}

await main();
