import { describe, it } from "vitest";
import { type Fault, outageUnderLoad, type Rig } from "./scenario.js";
import { clientPause, debugSleep } from "./toolbox.js";

/*
 * Network and server-side stalls: a black hole (through the fault proxy), a write pause
 * (CLIENT PAUSE WRITE) and a server stall (DEBUG SLEEP). Same pass criteria as the process
 * faults: bounded calls, typed errors, no acknowledged write lost, writes applied at most once,
 * service back within 1 s.
 */

/** A scenario through the fault proxy, with the fault held for `hold` ms. */
const scenario = (name: string, fault: (rig: Rig) => Fault, hold: number) =>
  outageUnderLoad(name, { proxied: true, fault, phases: { before: 300, hold, after: 1000 } });

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
      ({ server }) => ({
        inject: () => {
          sleeping = debugSleep(server.url, 1);
        },
        heal: () => sleeping,
      }),
      0,
    );
  });
});
