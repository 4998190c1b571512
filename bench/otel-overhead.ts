/**
 * What the OpenTelemetry bridge costs when no SDK is registered: the HTTP bench's `GET /` (a
 * session read per request) against two servers, the middleware with `openTelemetry: false` and
 * as it runs by default (@opentelemetry/api installed, no SDK: the API's no-op tracer and meter
 * do the work). Interleaved short runs on a private redis-server, so that a shared machine's
 * drift hits both alike; ratios are taken per repetition.
 *
 * Usage: npx tsx bench/otel-overhead.ts [--reps 9] [--seconds 2]
 */
import { startRedisServer } from "../test/helpers/redis-server.js";
import { readConfig } from "./config.js";
import { httpBench } from "./http-bench.js";
import { ratio, type Summary } from "./stats.js";
import { TELEMETRY_VARIANTS } from "./variants.js";

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const show = (s: Summary, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

async function main(): Promise<void> {
  const base = readConfig([], {});
  const cfg = {
    ...base,
    http: { ...base.http, reps: arg("reps", 9), seconds: arg("seconds", 2), warmupSeconds: 1 },
  };
  const redis = await startRedisServer();
  try {
    const [off, on] = await httpBench(
      cfg,
      redis.url,
      (line) => console.error(line),
      TELEMETRY_VARIANTS,
    );
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
