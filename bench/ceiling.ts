import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { RedisSessions } from "../src/index.js";
import { getScript } from "../src/layouts/compat/scripts.js";
import { findRedisTool } from "../test/helpers/redis-server.js";
import type { BenchConfig } from "./config.js";
import { type Summary, summarize } from "./stats.js";

const run = promisify(execFile);

/** One redis-benchmark figure: what Redis itself does with no Node.js in the way. */
export interface CeilingRow {
  test: "GET" | "EVALSHA get";
  label: string;
  /** Requests per second. */
  rps: Summary;
  /** Median latency in ms. */
  p50: Summary;
}

/**
 * Path of redis-benchmark: `REDIS_BENCHMARK_BIN`, else the one beside the server binary
 * (valkey-benchmark beside valkey-server), else the first on PATH.
 */
export function redisBenchmarkBin(): string {
  return process.env.REDIS_BENCHMARK_BIN ?? findRedisTool("benchmark") ?? "redis-benchmark";
}

async function redisBenchmark(
  cfg: BenchConfig,
  host: string,
  port: number,
  command: string[],
): Promise<{ rps: number; p50: number }> {
  const { requests, clients } = cfg.ceiling;
  const args = ["-h", host, "-p", String(port), "-c", String(clients), "-n", String(requests)];
  const { stdout } = await run(redisBenchmarkBin(), [...args, "--csv", ...command]);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
  const row = stdout.trim().split("\n").at(-1)!;
  const cells = [...row.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  const rps = Number(cells.at(-7));
  const p50 = Number(cells.at(-4));
  if (!(rps > 0)) throw new Error(`redis-benchmark gave no figure: ${stdout}`);
  return { rps, p50 };
}

/**
 * redis-benchmark's GET (the cheapest round trip) and an EVALSHA of this package's `get` script
 * on a live session (what one `get()` costs Redis), `reps` times interleaved.
 */
export async function ceilingBench(
  cfg: BenchConfig,
  host: string,
  port: number,
  log: (line: string) => void,
): Promise<CeilingRow[]> {
  const store = new RedisSessions({ redis: { host, port }, namespace: "ceiling", wipe: 0 });
  const admin = new Redis({ host, port });
  try {
    const { token } = await store.create({ app: "bench", id: "u1", ip: "127.0.0.1" });
    await admin.script("LOAD", getScript.lua);
    // ARGV as the store sends it: Redis clock (""), key prefix, app, token, touchAfter (1 s:
    // refresh activity once a second, as redis-sessions' default reads do), no ip.
    const evalsha = ["evalsha", getScript.sha, "0", "", store.keys.prefix, "bench", token, "1", ""];
    const tests = [
      { test: "GET", label: "GET (redis-benchmark)", command: ["-t", "get"] },
      {
        test: "EVALSHA get",
        label: "EVALSHA of our get script (redis-benchmark)",
        command: evalsha,
      },
    ] as const;
    const samples = tests.map(() => ({ rps: [] as number[], p50: [] as number[] }));
    for (let rep = 0; rep < cfg.ceiling.reps; rep++) {
      for (let t = 0; t < tests.length; t++) {
        const i = (t + rep) % tests.length;
        const r = await redisBenchmark(cfg, host, port, [...tests[i]!.command]);
        samples[i]!.rps.push(r.rps);
        samples[i]!.p50.push(r.p50);
      }
      log(`ceiling: rep ${rep + 1}/${cfg.ceiling.reps} done`);
    }
    return tests.map(({ test, label }, i) => ({
      test,
      label,
      rps: summarize(samples[i]!.rps),
      p50: summarize(samples[i]!.p50),
    }));
  } finally {
    await store.quit();
    admin.disconnect();
  }
}
