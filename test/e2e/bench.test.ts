import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/*
 * Smoke test of `npm run bench`: it runs end to end on tiny sizes and writes results of the
 * expected shape. Benchmarks are not tests, so no figure is compared with any threshold here;
 * only facts that do not depend on timing (round trips per call) are checked.
 */

const root = fileURLToPath(new URL("../../", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "ers-bench-"));

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

function runQuickBench(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", "--quick", ...args], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}

interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

const positive = (s: Summary) => {
  expect(s.samples.length).toBeGreaterThanOrEqual(3);
  for (const v of [s.median, s.min, s.max, ...s.samples]) {
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThan(0);
  }
  expect(s.min).toBeLessThanOrEqual(s.median);
  expect(s.median).toBeLessThanOrEqual(s.max);
};

describe("npm run bench --quick", () => {
  it("runs on a private Redis, exits 0 and writes results.json, results.svg and results.md", async () => {
    const { code, stderr } = await runQuickBench("--out", out);
    expect(code, stderr).toBe(0);

    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    expect(results.config.quick).toBe(true);
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.redisServer).toMatch(/^(Redis|Valkey) server v=/);

    const ops = ["create", "get", "set", "soid", "activity", "kill", "killall"];
    expect(results.store).toHaveLength(3 * ops.length);
    for (const row of results.store) {
      expect(ops).toContain(row.op);
      positive(row.v4);
      positive(row.ours);
      positive(row.ratio);
    }

    // Counted with MONITOR: every operation of ours is one EVALSHA, one round trip; v4's get
    // reads then writes (2), its kill reads, refreshes, deletes and cleans up (4).
    expect(results.commands.map((r: { op: string }) => r.op)).toEqual(ops);
    for (const row of results.commands) {
      expect(row.ours.sent).toBe(1);
      expect(row.ours.roundTrips).toBe(1);
    }
    const v4 = Object.fromEntries(
      results.commands.map((r: { op: string; v4: unknown }) => [r.op, r.v4]),
    );
    expect(v4.get.roundTrips).toBe(2);
    expect(v4.kill.roundTrips).toBe(4);

    expect(results.http.map((r: { variant: string }) => r.variant)).toEqual([
      "express",
      "ours",
      "ours-cached",
      "express-session",
      "v4",
    ]);
    for (const row of results.http) {
      positive(row.rps);
      positive(row.serverCpu);
      for (const v of row.redisCpu.samples) expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(results.ceiling.map((r: { test: string }) => r.test)).toEqual(["GET", "EVALSHA get"]);
    for (const row of results.ceiling) positive(row.rps);
    positive(results.cache.uncached);
    positive(results.cache.cached);
    positive(results.cache.ratio);
    expect(results.targets).toHaveLength(12);
    for (const t of results.targets) expect(typeof t.met).toBe("boolean");

    const svg = readFileSync(join(out, "results.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("redis-sessions 4.0.0");
    expect(readFileSync(join(out, "results.md"), "utf8")).toContain("| get |");
  }, 90_000);

  it("--scale: runs on a private Redis, writes scale-results.*, answers every check and leaves the worktree as it was", async () => {
    const gitStatus = () =>
      execFileSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8" });
    const before = gitStatus();
    const dir = join(out, "scale");
    const { code, stderr } = await runQuickBench("--scale", "--out", dir);
    expect(code, stderr).toBe(0);
    expect(gitStatus()).toBe(before);

    const r = JSON.parse(readFileSync(join(dir, "scale-results.json"), "utf8"));
    expect(r.mode).toBe("scale");
    expect(r.config.quick).toBe(true);
    expect(r.config.sizes).toEqual([100, 300]);
    expect(r.machine.redisServer).toMatch(/^Redis server v=/);
    expect(r.loadAverage.all.samples.length).toBeGreaterThan(0);

    const kinds = ["v4", "compat", "cluster"];
    expect(r.populate).toHaveLength(2 * kinds.length);
    for (const p of r.populate) {
      expect(kinds).toContain(p.kind);
      positive(p.bytesPerSession);
      positive(p.perSecond);
      expect(p.heavy).toBe(p.size / 10);
    }

    const quick = ["create", "get", "set", "soid", "activity", "kill"];
    const bulk = ["soid-heavy", "soapp", "migrate", "killsoid-heavy", "wipe", "killall"];
    for (const size of r.config.sizes) {
      for (const kind of kinds) {
        const rows = r.ops.filter(
          (o: { size: number; kind: string }) => o.size === size && o.kind === kind,
        );
        // v4 has no migrate; everything else ran for every store.
        const ops =
          kind === "v4"
            ? [...quick, ...bulk.filter((op) => op !== "migrate")]
            : [...quick, ...bulk];
        expect(rows.map((o: { op: string }) => o.op).sort()).toEqual([...ops].sort());
        for (const row of rows) {
          // Every call answered, and every bulk call handled exactly the sessions it should.
          expect(row.errors, `${kind} ${row.op} at ${size}`).toEqual([]);
          positive(row.perSecond);
          expect(
            Object.values(row.commands).reduce((a: number, b) => a + Number(b), 0),
          ).toBeGreaterThan(0);
          if (quick.includes(row.op)) {
            // Logged from 0 µs, so a slowest command is always found; ours sends one script per call.
            expect(row.slowest.logFrom).toBe(0);
            if (kind !== "v4") expect(row.slowest.command).toMatch(/^EVAL/);
          }
        }
        const sessions = (op: string) => rows.find((o: { op: string }) => o.op === op).sessions;
        expect(sessions("soid-heavy")).toBe(size / 10);
        expect(sessions("killsoid-heavy")).toBe(size / 10);
        // A tenth of the sessions, and of the kept user's, have the short ttl.
        expect(sessions("wipe")).toBe(size / 10 + size / 100);
      }
    }

    expect(r.http.map((h: { variant: string }) => h.variant)).toEqual([
      "ours",
      "ours-touch",
      "ours-cluster",
      "ours-cluster-touch",
      "express-session",
    ]);
    for (const h of r.http) {
      positive(h.rps);
      positive(h.redisCommands);
      for (const v of h.redisCpu.samples) expect(v).toBeGreaterThanOrEqual(0);
      // Applied once the store knows touchAfter (null before); never another value.
      expect(h.askedTouchAfter ? [null, 60] : [null, 0]).toContain(h.touchAfter);
    }
    // express-session + connect-redis: a GET and an EXPIRE per request.
    const es = r.http.find((h: { variant: string }) => h.variant === "express-session");
    expect(es.redisCommands.median).toBeGreaterThanOrEqual(1.9);
    expect(es.redisCommands.median).toBeLessThan(2.5);

    const svg = readFileSync(join(dir, "scale-results.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("redis-sessions 4.0.0");
    const md = readFileSync(join(dir, "scale-results.md"), "utf8");
    expect(md).toContain("bytes per session");
    expect(md).toContain("| create |");
  }, 300_000);
});
