/**
 * The store at 200 000 sessions in one app (20 000 of them one user's), in both layouts, on a
 * redis-server of its own: every operation completes (no call exceeds the store's timeout), and
 * SLOWLOG shows no unbounded command of this package; memory per session is at most
 * redis-sessions 4.0.0's (same ids, d and ttl, same server); 1000 unauthenticated reads with
 * random apps add no key. The figures are printed.
 *
 * SLOWLOG measures wall time, so on a machine whose cores are shared with other processes a
 * 2 ms script can be logged at 50 ms when the scheduler suspends Redis halfway through. The
 * server therefore runs under SCHED_FIFO (`chrt -f 1`, when this process may) so that a
 * command's logged time is the time it takes. Even so, a test is no place for a timing target
 * (CI shares its cores): the bound here, 30 ms (250 ms without SCHED_FIFO), catches what is not
 * paged (a whole-app or whole-user script takes 200 ms to 3 s at this size), and the figures are
 * printed. The 10 ms target itself is measured by `npm run bench -- --scale`.
 *
 * SCALE_LAYOUT=compat|cluster runs one layout; SCALE_DEBUG=1 prints each step's 3 slowest
 * commands (script name, argument count).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import express from "express";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions, restSessions } from "../../src/index.js";
import * as ks from "../../src/layouts/cluster/scripts.js";
import * as cs from "../../src/layouts/compat/scripts.js";
import { ClusterSide } from "../../src/migrate/cluster-side.js";
import { CompatSide } from "../../src/migrate/compat-side.js";
import { migrate } from "../../src/migrate/migrate.js";
import { openV4 } from "../compat/upstream/v4.js";
import { findRedisServer, freePort, waitForPong } from "../helpers/redis-server.js";

const SESSIONS = 200_000;
const ONE_USER = 20_000;
const EXPIRED = 20_000;
const MEMORY_SAMPLE = 20_000;
/** Far above a bounded batch (1–5 ms), far below an unbounded script (200 ms or more). */
const LIMIT_MS = 30;
const APP = "big";
const D = { name: "Alice Example", plan: "pro", visits: 42 };

/** Whether this process may run a child under SCHED_FIFO. */
function realtime(): boolean {
  try {
    execFileSync("chrt", ["-f", "1", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const FIFO = realtime();
if (!FIFO) {
  console.warn(
    `[scale] chrt -f is not permitted here: SLOWLOG times include scheduling delays, so the ${LIMIT_MS} ms bound is checked only as a 250 ms bound`,
  );
}

interface Server {
  url: string;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "ers-scale-"));
  const args = [
    ...["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    ...["--dir", dir, "--loglevel", "warning"],
    ...["--slowlog-log-slower-than", "500", "--slowlog-max-len", "20000"],
  ];
  const bin = findRedisServer();
  const child: ChildProcess = FIFO
    ? spawn("chrt", ["-f", "1", bin, ...args], { stdio: "ignore" })
    : spawn(bin, args, { stdio: "ignore" });
  child.on("error", () => {});
  await waitForPong("127.0.0.1", port);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGKILL");
      if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `op` `concurrency` at a time, `count` times. */
async function pool(count: number, concurrency: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

async function usedMemory(raw: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await raw.info("memory"))?.[1]);
}

type Entry = [number, number, number, string[]];
const TOOL = /^(slowlog|info|dbsize|config|memory|flushall|ping|client)$/i;

const NAMES = new Map<string, string>();
for (const [n, v] of [...Object.entries(cs), ...Object.entries(ks)])
  if ((v as { sha?: string }).sha) NAMES.set((v as { sha: string }).sha, n);

for (const layout of (process.env.SCALE_LAYOUT
  ? [process.env.SCALE_LAYOUT]
  : ["compat", "cluster"]) as ("compat" | "cluster")[]) {
  describe(`${layout} layout at ${SESSIONS} sessions`, () => {
    let server: Server;
    let raw: Redis;
    const clock = { now: 1_800_000_000 };
    const rows: string[] = [];
    const maxima: [string, number][] = [];

    beforeAll(async () => {
      server = await startServer();
      raw = new Redis(server.url, { maxRetriesPerRequest: 1 });
    }, 30_000);

    afterAll(async () => {
      raw?.disconnect();
      await server?.stop();
      if (rows.length) console.info(`[scale] ${layout} layout:\n${rows.join("\n")}`);
    });

    /** Runs `op` and records its wall time and the slowest command SLOWLOG saw meanwhile. */
    async function measured<T>(label: string, op: () => Promise<T>): Promise<T> {
      await raw.slowlog("RESET");
      const t0 = performance.now();
      const result = await op();
      const ms = performance.now() - t0;
      const log = ((await raw.slowlog("GET", 20_000)) as Entry[]).filter(
        (e) => !TOOL.test(String(e[3][0])),
      );
      const times = log.map((e) => e[2]).sort((a, b) => a - b);
      const top = (times[times.length - 1] ?? 0) / 1000;
      const median = (times[times.length >> 1] ?? 0) / 1000;
      maxima.push([label, top]);
      if (process.env.SCALE_DEBUG)
        for (const e of log.sort((a, b) => b[2] - a[2]).slice(0, 3))
          rows.push(
            `      ${e[2]}us ${NAMES.get(String(e[3][1])) ?? e[3][0]} args ${e[3].length} ${e[3].slice(2, 4).join(" ").slice(0, 50)}`,
          );
      rows.push(
        `  ${label.padEnd(34)} ${ms.toFixed(0).padStart(7)} ms wall   slowest command ${top.toFixed(2)} ms; ${log.length} over 0.5 ms, their median ${median.toFixed(2)} ms`,
      );
      return result;
    }

    it("stays bounded: no unbounded command, no more memory than v4, no key from random reads", async () => {
      /** What the account fields (ct, au, cs) add to a session hash, at most. */
      const ACCOUNT_FIELD_BYTES = 80;
      // Memory per session, v4's against ours, same ids, d and ttl (5 sessions per user).
      const v4 = openV4(server.url, "v4", { clock: () => clock.now });
      const before = await usedMemory(raw);
      await pool(MEMORY_SAMPLE, 200, (i) =>
        v4.create({ app: "mem", id: `user${i % 4000}`, ip: "10.0.0.1", ttl: 3600, d: D }),
      );
      const v4Bytes = ((await usedMemory(raw)) - before) / MEMORY_SAMPLE;
      await v4.quit();
      const sample = new RedisSessions({ redis: server.url, namespace: "mem", layout, wipe: 0 });
      const start = await usedMemory(raw);
      await pool(MEMORY_SAMPLE, 200, (i) =>
        sample.create({ app: "mem", id: `user${i % 4000}`, ip: "10.0.0.1", ttl: 3600, d: D }),
      );
      const ourBytes = ((await usedMemory(raw)) - start) / MEMORY_SAMPLE;
      await sample.quit();
      rows.push(
        `  bytes per session (used_memory, ${MEMORY_SAMPLE}): ours ${ourBytes.toFixed(1)}, redis-sessions 4.0.0 ${v4Bytes.toFixed(1)}`,
      );
      // The compat layout stores v4's very bytes plus the additive account fields (ct and au,
      // 10 digits each, cs 43 characters, and their names: about 70 bytes of the hash's
      // listpack); 1 % covers the allocator's noise.
      expect(ourBytes).toBeLessThanOrEqual(v4Bytes * 1.01 + ACCOUNT_FIELD_BYTES);
      await raw.flushall();

      const store = new RedisSessions({
        redis: server.url,
        layout,
        wipe: 0,
        clock: () => clock.now,
        autoPipelining: true,
      });
      try {
        const t0 = performance.now();
        const live = SESSIONS - ONE_USER - EXPIRED;
        const some: string[] = [];
        await pool(live, 500, async (i) => {
          const { token } = await store.create({ app: APP, id: `u${i}`, ip: "1", d: D });
          if (i % 200 === 0) some.push(token);
        });
        await pool(ONE_USER, 500, () => store.create({ app: APP, id: "bot", ip: "1" }));
        clock.now -= 100;
        await pool(EXPIRED, 500, (i) =>
          store.create({ app: APP, id: `gone${i}`, ip: "1", ttl: 10 }),
        );
        clock.now += 100;
        await pool(5_000, 500, (i) => store.create({ app: "mig", id: `m${i}`, ip: "1" }));
        rows.push(
          `  populated ${SESSIONS + 5000} sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        clock.now += 5;

        const keys = await raw.dbsize();
        const token = () =>
          Array.from(
            { length: 64 },
            () => "abcdefghijkLMNOPQRST0123456789"[Math.floor(Math.random() * 30)],
          ).join("");
        await measured("1000 reads, random app and token", () =>
          pool(1000, 100, async (i) => {
            expect(
              await store.get({ app: `rnd${i}x${Date.now() % 1000}`, token: token() }),
            ).toBeNull();
          }),
        );
        expect(await raw.dbsize()).toBe(keys);
        await measured("1000 reads of live sessions", () =>
          pool(1000, 100, (i) => store.get({ app: APP, token: some[i % some.length] as string })),
        );
        const counted = await measured("activity", () =>
          store.activity({ app: APP, deltaTime: 600 }),
        );
        expect(counted.activity).toBe(live + 1 + EXPIRED);
        await measured("countSessions", () => store.countSessions({ app: APP, deltaTime: 600 }));
        const first = await measured("soapp, first page of 100", () =>
          store.soapp({ app: APP, deltaTime: 600, limit: 100 }),
        );
        expect(first.sessions).toHaveLength(100);
        await measured("soapp, 10 more pages", async () => {
          let cursor = first.cursor;
          for (let i = 0; i < 10; i++)
            cursor = (await store.soapp({ app: APP, deltaTime: 600, limit: 100, cursor })).cursor;
        });
        const whole = await measured("soapp, whole (v4's call)", () =>
          store.soapp({ app: APP, deltaTime: 600 }),
        );
        expect(whole.sessions).toHaveLength(live + ONE_USER);
        const soid = await measured(`soid of a user with ${ONE_USER}`, () =>
          store.soid({ app: APP, id: "bot" }),
        );
        expect(soid.sessions).toHaveLength(ONE_USER);
        await measured("soid, first page of 100", () =>
          store.soid({ app: APP, id: "bot", limit: 100 }),
        );
        const web = express();
        web.use(restSessions({ store, express }));
        await measured("REST soapp page, count, activity", async () => {
          await request(web).get(`/${APP}/soapp?dt=600&limit=50`).expect(200);
          await request(web).get(`/${APP}/count?dt=600`).expect(200);
          await request(web).get(`/${APP}/activity?dt=600`).expect(200);
        });
        clock.now += 20;
        expect(await measured(`wipe of ${EXPIRED} expired`, () => store.wipe())).toBe(EXPIRED);
        expect(
          await measured(`killsoid of ${ONE_USER}`, () => store.killsoid({ app: APP, id: "bot" })),
        ).toEqual({ kill: ONE_USER });
        const source =
          layout === "compat" ? new CompatSide(raw, "rs") : new ClusterSide(raw, "rs", 60);
        const target =
          layout === "compat" ? new ClusterSide(raw, "to", 60) : new CompatSide(raw, "to");
        const [report] = await measured("migrate 5000 sessions", () =>
          migrate({ source, target, apps: ["mig"], state: { client: raw, namespace: "to" } }),
        );
        expect(report?.copied).toBe(5000);
        await Promise.all([source.close(), target.close()]);
        expect(await measured("killall", () => store.killall({ app: APP }))).toEqual({
          kill: live,
        });
      } finally {
        await store.quit();
      }
      const bound = FIFO ? LIMIT_MS : 250;
      expect(maxima.filter(([, ms]) => ms > bound)).toEqual([]);
    }, 300_000);
  });
}
