/**
 * redis-sessions 4.0.0's OWN test suite (its shipped `dist/test/test.js`, mocha + should), run
 * unchanged against our store. Only two lines are patched in a temporary copy: its
 * `require("../index")` loads test/compat/upstream/redis-sessions-shim.cjs instead (our store, pointed
 * at a private Redis), and the `process.exit(0)` in its `after` hook is removed, so mocha must
 * exit by itself: proof that `quit()` leaves nothing open.
 *
 * The suite uses namespace `rs`, apps `test`/`TEST` and fixed counts (activity 1001…): it gets a
 * redis-server of its own so that nothing else can collide with it. It sleeps ~18 s by design.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "../helpers/child.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";

const require = createRequire(import.meta.url);
const SUITE = require.resolve("redis-sessions/dist/test/test.js");
const MOCHA = require.resolve("mocha/bin/mocha.js");
const TSX = pathToFileURL(require.resolve("tsx")).href;
const SHIM = fileURLToPath(new URL("./upstream/redis-sessions-shim.cjs", import.meta.url));
const NODE_MODULES = dirname(dirname(require.resolve("mocha/package.json")));
/** The suite's own test count, as its README and a run against redis-sessions 4.0.0 report. */
const UPSTREAM_TESTS = 88;
/** Far above the suite's ~20 s, so that a hang is reported rather than waited for forever. */
const RUN_LIMIT_MS = 90_000;

interface Run {
  code: number | null;
  /** stdout, then stderr. */
  output: string;
  killed: boolean;
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** The suite with exactly its two environment-bound lines replaced. */
function patchSuite(source: string, shim: string): string {
  const load = 'require("../index")';
  const exit = "process.exit(0);";
  if (occurrences(source, load) !== 1 || occurrences(source, exit) !== 1) {
    throw new Error("redis-sessions' test file changed: the patch points are not unique");
  }
  return source.replace(load, `require(${JSON.stringify(shim)})`).replace(exit, "");
}

async function runMocha(file: string, cwd: string, server: RedisServer): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The copy lives in a temp dir: let its require("should") find our node_modules.
    NODE_PATH: NODE_MODULES,
    ERS_UPSTREAM_REDIS_HOST: server.host,
    ERS_UPSTREAM_REDIS_PORT: String(server.port),
    FORCE_COLOR: "0",
  };
  delete env.NODE_OPTIONS;
  // The suite's own mocha settings (its package.json): bail, slow 5, timeout 8000, spec reporter.
  const args = ["--import", TSX, MOCHA, "--no-config", "--no-package", "--bail"];
  args.push("--slow", "5", "--timeout", "8000", "--reporter", "spec", file);
  const r = await runProcess(process.execPath, args, { cwd, env, limitMs: RUN_LIMIT_MS });
  return { code: r.code, output: r.stdout + r.stderr, killed: r.timedOut };
}

/** The failures section of mocha's spec report. */
function failures(run: Run): string {
  const at = run.output.search(/^\s*\d+ failing/m);
  return at < 0 ? "" : run.output.slice(at);
}

/**
 * True when the one failure is a read count in the suite's CACHE section, i.e. a cache entry that
 * expired during one of its sleeps: `1) Redis-Sessions Test / CACHE / …: expected 3 to be 2`.
 */
function missedCacheWindow(run: Run): boolean {
  const report = failures(run);
  return (
    !run.killed &&
    count(run.output, "failing") === 1 &&
    /^\s+1\) Redis-Sessions Test\s*\n\s+CACHE\s*\n/m.test(report) &&
    /AssertionError: expected \d+ to be \d+/.test(report)
  );
}

function count(output: string, word: "passing" | "failing" | "pending"): number {
  const match = new RegExp(`^\\s*(\\d+) ${word}`, "m").exec(output);
  return match ? Number(match[1]) : 0;
}

describe("redis-sessions 4.0.0's own test suite against our store", () => {
  let server: RedisServer;
  let dir: string;

  beforeAll(async () => {
    server = await startRedisServer();
    dir = mkdtempSync(join(tmpdir(), "ers-upstream-"));
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    `passes all ${UPSTREAM_TESTS} tests and exits by itself`,
    async () => {
      const file = join(dir, "test.js");
      writeFileSync(file, patchSuite(readFileSync(SUITE, "utf8"), SHIM));
      const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
      try {
        // Each attempt starts from an empty server (this one is ours alone) and fresh counters.
        const attempt = async () => {
          await redis.flushall();
          await redis.config("RESETSTAT");
          return runMocha(file, dir, server);
        };
        let run = await attempt();
        if (missedCacheWindow(run)) {
          // Its CACHE tests count reads across sleeps of 1.5-2.1 s against a 2 s cachetime, which
          // leaves ~0.5 s of slack: a heavily loaded machine can miss it (seen once at load 11 on
          // 2 cores; the window is the suite's design and binds redis-sessions 4 alike). One more
          // run for that case only; any other failure fails at once.
          console.warn(
            `redis-sessions' CACHE timing window missed; running it once more:\n${failures(run)}`,
          );
          run = await attempt();
        }

        expect(run.killed, `mocha did not exit within ${RUN_LIMIT_MS} ms:\n${run.output}`).toBe(
          false,
        );
        expect(run.code, run.output).toBe(0);
        expect(count(run.output, "failing"), run.output).toBe(0);
        expect(count(run.output, "pending"), run.output).toBe(0);
        expect(count(run.output, "passing"), run.output).toBe(UPSTREAM_TESTS);

        // It really was our store on the private server: redis-sessions 4 never runs Lua, we
        // always do. And its closing killall of both apps left no key behind.
        const stats = await redis.info("commandstats");
        const evalsha = /cmdstat_evalsha:calls=(\d+)/.exec(stats);
        expect(Number(evalsha?.[1] ?? 0)).toBeGreaterThan(2000);
        expect(await redis.dbsize()).toBe(0);
      } finally {
        redis.disconnect();
      }
    },
    2 * RUN_LIMIT_MS + 10_000,
  );
});
