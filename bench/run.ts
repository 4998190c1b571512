/**
 * `npm run bench`: this package against redis-sessions 4.0.0 and express-session +
 * connect-redis, on a private redis-server started for the run. Prints Markdown tables; with
 * `--save` writes results.json, results.svg and results.md to bench/ (or to `--out <dir>`).
 * `--quick` (or BENCH_SIZE=tiny) runs tiny sizes, for the smoke test only. `--scale` runs the
 * scale mode instead (bench/scale-run.ts), which writes scale-results.* the same way.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { cacheBench } from "./cache-bench.js";
import { ceilingBench } from "./ceiling.js";
import { countCommands } from "./commands.js";
import { readConfig } from "./config.js";
import { httpBench } from "./http-bench.js";
import { machine } from "./machine.js";
import { evaluateTargets, type Results } from "./results.js";
import { scaleMain } from "./scale-run.js";
import { storeBench } from "./store-bench.js";
import { chart } from "./svg.js";
import { markdown } from "./tables.js";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--scale")) return scaleMain(argv);
  const cfg = readConfig(argv, process.env);
  const started = Date.now();
  const log = (line: string) => {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`);
  };
  const { outDir, ...config } = cfg;
  const host = machine();
  // The bench's own Redis: never the machine's shared one, and no persistence.
  const redis = await startRedisServer();
  let results: Results;
  try {
    log(`redis-server on ${redis.url}${cfg.quick ? " (quick mode: figures mean nothing)" : ""}`);
    const store = await storeBench(cfg, redis.host, redis.port, log);
    const cache = await cacheBench(cfg, redis.host, redis.port, log);
    const commands = await countCommands(cfg, redis.host, redis.port);
    log("commands counted");
    const ceiling = await ceilingBench(cfg, redis.host, redis.port, log);
    const http = await httpBench(cfg, redis.url, log);
    results = {
      machine: host,
      config,
      seconds: (Date.now() - started) / 1000,
      store,
      cache,
      commands,
      ceiling,
      http,
      targets: evaluateTargets(store, http, cache),
    };
  } finally {
    await redis.stop();
  }
  const md = markdown(results);
  process.stdout.write(md);
  if (!outDir) {
    log("results not saved (pass --save to write them to bench/, or --out <dir>)");
    return;
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, "results.svg"), chart(results));
  writeFileSync(join(outDir, "results.md"), md);
  log(`wrote ${join(outDir, "results.json")}, results.svg and results.md`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
