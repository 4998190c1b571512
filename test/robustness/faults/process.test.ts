import { describe, expect, it } from "vitest";
import { RedisSessions } from "../../../src/index.js";
import { freePort } from "../../helpers/redis-server.js";
import { outageUnderLoad, withCleanup } from "./scenario.js";
import {
  badSamples,
  LIMIT,
  report,
  startRedisServer,
  TIMEOUT,
  timed,
  watchUnhandled,
} from "./toolbox.js";

/*
 * Process faults: Redis absent, killed, frozen. Each scenario owns a private redis-server. Pass
 * criteria: every call settles within TIMEOUT + MARGIN with a typed store error or a result; no
 * unhandled error; no acknowledged write lost; service back within 1 s of Redis.
 */

const APP = "faults";
const NOT_A_TOKEN_IN_REDIS = "A".repeat(64);

function everyCall(store: RedisSessions): (() => Promise<unknown>)[] {
  const app = APP;
  const token = NOT_A_TOKEN_IN_REDIS;
  return [
    () => store.create({ app, id: "u1", ip: "127.0.0.1" }),
    () => store.get({ app, token }),
    () => store.set({ app, token, d: { a: 1 } }),
    () => store.kill({ app, token }),
    () => store.rotate({ app, token }),
    () => store.killsoid({ app, id: "u1" }),
    () => store.killall({ app }),
    () => store.soid({ app, id: "u1" }),
    () => store.soapp({ app, deltaTime: 60 }),
    () => store.activity({ app, deltaTime: 60 }),
    () => store.ping(),
    () => store.wipe(),
  ];
}

describe("process faults", () => {
  it("Redis never started: every method fails typed within the timeout; works within 1 s of Redis starting", async () => {
    await withCleanup(async (defer) => {
      const unhandled = watchUnhandled();
      defer(() => unhandled.stop());
      const port = await freePort();
      const store = new RedisSessions({ port, timeout: TIMEOUT, wipe: 0 });
      defer(() => store.quit());
      const samples = [];
      for (let round = 0; round < 3; round++) {
        samples.push(...(await Promise.all(everyCall(store).map((call) => timed(call)))));
      }
      expect(samples.filter((s) => s.ok)).toEqual([]);
      expect(badSamples(samples, LIMIT)).toEqual([]);

      const server = await startRedisServer({ port });
      defer(() => server.stop());
      const startedAt = Date.now();
      const after = [];
      for (;;) {
        const s = await timed(() => store.create({ app: APP, id: "u1", ip: "127.0.0.1" }));
        after.push(s);
        if (s.ok || Date.now() - startedAt > 3000) break;
      }
      const recoveryMs = (after.at(-1)?.end ?? 0) - startedAt;
      expect(after.at(-1)?.ok).toBe(true);
      expect(recoveryMs).toBeLessThanOrEqual(1000);
      expect(badSamples(after, LIMIT)).toEqual([]);
      const quitStarted = Date.now();
      await store.quit();
      expect(unhandled.errors).toEqual([]);
      report("never-started", {
        calls: samples.length,
        p100Ms: Math.max(...samples.map((s) => s.ms)),
        codes: [...new Set(samples.map((s) => s.code))],
        recoveryMs,
        quitMs: Date.now() - quitStarted,
      });
    });
  });

  it("SIGKILL and restart (AOF on) under steady load: bounded calls, no acknowledged write lost, back within 1 s", async () => {
    await outageUnderLoad("sigkill-restart", {
      // appendfsync always: an acknowledged write is on disk, so a crash may not lose it.
      server: { args: ["--appendonly", "yes", "--appendfsync", "always"] },
      proxied: false,
      fault: ({ server }) => ({ inject: () => server.crash(), heal: () => server.restart() }),
      phases: { before: 400, hold: 1500, after: 1000 },
    });
  });

  it("freeze (SIGSTOP) for 2 s under steady load: bounded calls, each write applied at most once, back within 1 s", async () => {
    await outageUnderLoad("freeze-2s", {
      proxied: false,
      fault: ({ server }) => ({ inject: () => server.freeze(), heal: () => server.thaw() }),
      phases: { before: 300, hold: 2000, after: 1000 },
    });
  });
});
