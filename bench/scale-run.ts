import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getHeapStatistics } from "node:v8";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { LoadAverage } from "./load-average.js";
import { machine } from "./machine.js";
import { RedisProbe } from "./redis-probe.js";
import { type ScaleSizeResult, scaleSize } from "./scale-bench.js";
import { readScaleConfig } from "./scale-config.js";
import { scaleHttp } from "./scale-http.js";
import { SCALE_FILES, type ScaleResults } from "./scale-results.js";
import { scaleChart } from "./scale-svg.js";
import { scaleMarkdown } from "./scale-tables.js";

/**
 * `npm run bench -- --scale`: this package (both key layouts) against redis-sessions 4.0.0 at
 * 10k, 100k and 1M sessions in one app, on a private redis-server: bytes per session, the
 * slowest Redis command per operation (SLOWLOG), operations per second, and the Redis CPU of
 * one HTTP session read with and without `touchAfter`.
 */
export async function scaleMain(argv: readonly string[]): Promise<void> {
  const cfg = readScaleConfig(argv, process.env);
  // redis-sessions 4.0.0 answers soapp with every session at once: over a million of them
  // that takes gigabytes of JavaScript heap.
  const heapGiB = getHeapStatistics().heap_size_limit / 2 ** 30;
  if (Math.max(...cfg.sizes) >= 500_000 && heapGiB < 6) {
    throw new Error(
      `the scale bench at ${Math.max(...cfg.sizes)} sessions needs a larger heap than ` +
        `${heapGiB.toFixed(1)} GiB: run \`npm run bench:scale\` (or set ` +
        "NODE_OPTIONS=--max-old-space-size=8192)",
    );
  }
  const started = Date.now();
  const log = (line: string) => {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`);
  };
  const { outDir, ...config } = cfg;
  const host = machine();
  const load = new LoadAverage();
  // The bench's own Redis: never the machine's shared one, and no persistence but the
  // snapshots each repetition starts from (DEBUG RELOAD reads the file named by dbfilename).
  const redis = await startRedisServer({ args: ["--enable-protected-configs", "local"] });
  const probe = new RedisProbe(redis.host, redis.port, redis.pid);
  const sizes: ScaleSizeResult[] = [];
  let http: ScaleResults["http"];
  try {
    log(
      `scale: redis-server on ${redis.url}${cfg.quick ? " (quick mode: figures mean nothing)" : ""}`,
    );
    await probe.setup(cfg.slowlogMaxLen);
    for (const size of cfg.sizes) {
      sizes.push(await scaleSize(size, cfg, probe, redis.host, redis.port, load, log));
    }
    await probe.flush();
    load.enter("http");
    http = await scaleHttp(cfg, redis.url, log);
  } finally {
    load.stop();
    probe.quit();
    await redis.stop();
  }
  const results: ScaleResults = {
    mode: "scale",
    machine: host,
    config,
    seconds: (Date.now() - started) / 1000,
    loadAverage: load.summary(),
    populate: sizes.flatMap((s) => s.populate),
    ops: sizes.flatMap((s) => s.ops),
    http,
  };
  const md = scaleMarkdown(results);
  process.stdout.write(md);
  if (!outDir) {
    log("results not saved (pass --save to write them to bench/, or --out <dir>)");
    return;
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, SCALE_FILES.json), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, SCALE_FILES.svg), scaleChart(results));
  writeFileSync(join(outDir, SCALE_FILES.md), md);
  log(`wrote ${join(outDir, SCALE_FILES.json)}, ${SCALE_FILES.svg} and ${SCALE_FILES.md}`);
}
