import { describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { type Fault, judge, runUnderLoad, withCleanup } from "./scenario.js";
import {
  adminClient,
  clientPause,
  debugSleep,
  FaultProxy,
  report,
  startRedisServer,
  watchUnhandled,
} from "./toolbox.js";

/*
 * Network and server-side stalls: a black hole (through the fault proxy), a write pause
 * (CLIENT PAUSE WRITE) and a server stall (DEBUG SLEEP). Same pass criteria as the process
 * faults: bounded calls, typed errors, no acknowledged write lost, writes applied at most once,
 * service back within 1 s.
 */

const TIMEOUT = 300;
const MARGIN = 150;
const LIMIT = TIMEOUT + MARGIN;
const APP = "faults";

async function scenario(
  name: string,
  makeFault: (ctx: {
    proxy: FaultProxy;
    admin: ReturnType<typeof adminClient>;
    url: string;
  }) => Fault,
  hold: number,
) {
  await withCleanup(async (defer) => {
    const unhandled = watchUnhandled();
    defer(() => unhandled.stop());
    const server = await startRedisServer();
    defer(() => server.stop());
    const proxy = await FaultProxy.start(server);
    defer(() => proxy.close());
    const admin = adminClient(server.url);
    defer(() => admin.disconnect());
    const store = new RedisSessions({ redis: proxy.url, timeout: TIMEOUT, wipe: 0 });
    defer(() => store.quit());
    const run = await runUnderLoad(store, APP, makeFault({ proxy, admin, url: server.url }), {
      before: 300,
      hold,
      after: 1000,
    });
    const verify = new RedisSessions({ client: admin, wipe: 0 });
    const { problems, figures, failedDuring } = await judge(run, {
      limitMs: LIMIT,
      direct: admin,
      verify,
      ns: "rs",
    });
    report(name, { ...figures, proxyConnections: proxy.stats.accepted });
    expect(failedDuring).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    expect(unhandled.errors).toEqual([]);
  });
}

describe("network faults and stalls", () => {
  it("black hole for 2 s (TCP open, nothing flows; held bytes flow again after): bounded, at most once, back within 1 s", async () => {
    await scenario(
      "blackhole-2s",
      ({ proxy }) => ({
        inject: () => proxy.setMode({ kind: "blackhole" }),
        heal: () => proxy.setMode({ kind: "pass" }),
      }),
      2000,
    );
  });

  it("black hole for 2 s ending in a reset (held bytes lost): bounded, at most once, back within 1 s", async () => {
    await scenario(
      "blackhole-2s-then-reset",
      ({ proxy }) => ({
        inject: () => proxy.setMode({ kind: "blackhole" }),
        heal: () => {
          proxy.resetAll();
          proxy.setMode({ kind: "pass" });
        },
      }),
      2000,
    );
  });

  // Paused commands are held by Redis, not dropped, and nothing resends them; but after three
  // timeouts in a row the store drops its connection (black-hole recovery), and Redis then
  // discards what that connection still had queued. So a timed-out set runs once or not at all.
  it("CLIENT PAUSE WRITE for 2 s: bounded; every timed-out set is applied at most once", async () => {
    await scenario(
      "client-pause-write-2s",
      ({ admin }) => ({
        inject: () => clientPause(admin, 10_000, "WRITE"),
        heal: async () => {
          await admin.call("CLIENT", "UNPAUSE");
        },
      }),
      2000,
    );
  });

  it("DEBUG SLEEP 1 (the whole server stalls): bounded; every timed-out set is applied at most once", async () => {
    let sleeping: Promise<void> | undefined;
    await scenario(
      "debug-sleep-1s",
      ({ url }) => ({
        inject: () => {
          sleeping = debugSleep(url, 1);
        },
        heal: () => sleeping,
      }),
      0,
    );
  });
});
