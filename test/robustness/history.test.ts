import { describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { FaultProxy, type ProxyMode } from "../helpers/fault-proxy.js";
import { pace } from "../helpers/wait.js";
import { checkInvariants } from "./faults/invariants.js";
import { withCleanup } from "./faults/scenario.js";
import {
  adminClient,
  badSamples,
  clientKillType,
  LIMIT,
  report,
  type Sample,
  startRedisServer,
  TIMEOUT,
  timed,
  watchUnhandled,
} from "./faults/toolbox.js";

/*
 * Jepsen-lite. Several clients, each through its own fault proxy, run random operations on a
 * shared pool of sessions while a nemesis delays, black-holes, resets and drops replies on
 * their links and kills their connections. Every call is recorded as an operation with its
 * invoke and complete times and an outcome: ok, or info (failed: it may or may not have been
 * applied). Then a checker reads the history:
 *
 * - after an acknowledged kill, killsoid or rotate, no call invoked later finds that session
 *   (get, set and rotate answer null, kill answers 0);
 * - no acknowledged set is lost on a session nobody tried to end;
 * - every call settled within the timeout plus a margin, with a typed error when it failed;
 * - the raw keys satisfy the layout's invariants.
 */

const APP = "history";
const CLIENTS = 4;
const DURATION_MS = 4000;

type Kind = "get" | "set" | "kill" | "killsoid" | "rotate" | "create";

interface Operation extends Sample {
  client: number;
  kind: Kind;
  token?: string;
  id?: string;
  key?: string;
}

/** A tiny deterministic PRNG, so that a failing history can be replayed from its seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe("history check under faults (Jepsen-lite)", () => {
  it("no read of a session after its acknowledged end; no acknowledged write lost; all calls bounded", async () => {
    await withCleanup(async (defer) => {
      const seed = Number(process.env.HISTORY_SEED ?? Date.now() % 1_000_000);
      const random = prng(seed);
      const unhandled = watchUnhandled();
      defer(() => unhandled.stop());
      const server = await startRedisServer();
      defer(() => server.stop());
      const admin = adminClient(server.url);
      defer(() => admin.disconnect());
      const proxies: FaultProxy[] = [];
      const stores: RedisSessions[] = [];
      for (let c = 0; c < CLIENTS; c++) {
        const proxy = await FaultProxy.start(server);
        defer(() => proxy.close());
        proxies.push(proxy);
        const store = new RedisSessions({ redis: proxy.url, timeout: TIMEOUT, wipe: 0 });
        defer(() => store.quit());
        stores.push(store);
      }
      // The pool of sessions the clients share, and the id of each token ever issued.
      const idOf = new Map<string, string>();
      /** When each token's issuing call was acknowledged (0 for the initial pool). */
      const born = new Map<string, number>();
      const pool: string[] = [];
      const setup = new RedisSessions({ client: admin, wipe: 0 });
      for (let i = 0; i < 12; i++) {
        const id = `u${i % 5}`;
        const { token } = await setup.create({ app: APP, id, ip: "10.1.1.1" });
        idOf.set(token, id);
        born.set(token, 0);
        pool.push(token);
      }
      const kept: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { token } = await setup.create({ app: APP, id: `keep${i}`, ip: "10.1.1.1" });
        kept.push(token);
      }
      for (const s of stores) await s.ping();

      const history: Operation[] = [];
      let running = true;
      let keys = 0;
      const client = async (c: number) => {
        const store = stores[c] as RedisSessions;
        while (running) {
          await pace(2 + random() * 6);
          // A third of the calls read and write sessions that nobody ends (the lost-write check).
          const keep = random() < 0.33;
          const roll = keep ? random() * 0.68 : random();
          const from = keep ? kept : pool;
          const token = from[Math.floor(random() * from.length)] as string;
          const id = `u${Math.floor(random() * 5)}`;
          let op: Omit<Operation, keyof Sample>;
          let call: () => Promise<unknown>;
          if (roll < 0.4) {
            op = { client: c, kind: "get", token };
            call = () => store.get({ app: APP, token });
          } else if (roll < 0.68) {
            const key = `k${keys++}`;
            op = { client: c, kind: "set", token, key };
            call = () => store.set({ app: APP, token, d: { [key]: c } });
          } else if (roll < 0.76) {
            op = { client: c, kind: "kill", token };
            call = () => store.kill({ app: APP, token });
          } else if (roll < 0.8) {
            op = { client: c, kind: "killsoid", id };
            call = () => store.killsoid({ app: APP, id });
          } else if (roll < 0.87) {
            op = { client: c, kind: "rotate", token };
            call = async () => {
              const next = await store.rotate({ app: APP, token });
              if (next) {
                idOf.set(next.token, idOf.get(token) as string);
                born.set(next.token, Date.now());
                pool.push(next.token);
              }
              return next;
            };
          } else {
            op = { client: c, kind: "create", id };
            call = async () => {
              const { token: t } = await store.create({ app: APP, id, ip: "10.1.1.2" });
              idOf.set(t, id);
              born.set(t, Date.now());
              pool.push(t);
              return { token: t };
            };
          }
          history.push({ ...op, ...(await timed(call)) });
        }
      };

      const faults: string[] = [];
      const nemesis = async () => {
        while (running) {
          await pace(50 + random() * 150);
          if (!running) break;
          const target = Math.floor(random() * CLIENTS);
          const proxy = proxies[target] as FaultProxy;
          // The first fault is a long black hole, so every run has operations of unknown outcome.
          const first = faults.length === 0;
          const roll = first ? 0.3 : random();
          const hold = first ? 500 : 100 + random() * 400;
          let mode: ProxyMode | "reset" | "client-kill";
          if (roll < 0.25) mode = { kind: "delay", up: random() * 40, down: random() * 40 };
          else if (roll < 0.5) mode = { kind: "blackhole" };
          else if (roll < 0.7) mode = { kind: "dropNextReplyThenReset" };
          else if (roll < 0.85) mode = "reset";
          else mode = "client-kill";
          faults.push(typeof mode === "string" ? mode : mode.kind);
          if (mode === "client-kill") {
            await clientKillType(admin, "normal");
            continue;
          }
          if (mode === "reset") {
            proxy.resetAll();
            continue;
          }
          proxy.setMode(mode);
          await pace(hold);
          // A black hole ends half the time in a reset: its held bytes are then lost.
          if (mode.kind === "blackhole" && random() < 0.5) proxy.resetAll();
          proxy.setMode({ kind: "pass" });
        }
      };

      const t0 = Date.now();
      const work = [...Array.from({ length: CLIENTS }, (_, c) => client(c)), nemesis()];
      await pace(DURATION_MS);
      running = false;
      await Promise.all(work);
      for (const p of proxies) p.setMode({ kind: "pass" });

      // Checker.
      const violations: string[] = [...badSamples(history, LIMIT)];
      const ends: { token: string; at: number; by: string }[] = [];
      for (const op of history) {
        if (!op.ok) continue;
        if ((op.kind === "kill" || op.kind === "rotate") && op.token) {
          if (op.kind === "kill" || op.value)
            ends.push({ token: op.token, at: op.end, by: op.kind });
        }
        if (op.kind === "killsoid") {
          // Sessions of the id issued before the killsoid began are over once it is acknowledged.
          for (const [token, id] of idOf) {
            if (id === op.id && (born.get(token) ?? 0) < op.start) {
              ends.push({ token, at: op.end, by: "killsoid" });
            }
          }
        }
      }
      const endOf = new Map<string, { at: number; by: string }>();
      for (const e of ends) {
        const prev = endOf.get(e.token);
        if (!prev || e.at < prev.at) endOf.set(e.token, e);
      }
      let readsAfterEnd = 0;
      for (const op of history) {
        if (!op.ok || !op.token) continue;
        const end = endOf.get(op.token);
        if (!end || op.start <= end.at) continue;
        readsAfterEnd++;
        // get, set and rotate find no session; kill finds none alive.
        const found = op.kind === "kill" ? (op.value as { kill: number }).kill > 0 : !!op.value;
        if (found) {
          violations.push(
            `${op.kind} of ${op.token} at ${op.start} found a session ended by ${end.by} at ${end.at}`,
          );
        }
      }
      // Acknowledged sets on sessions that nobody tried to end (not even with an unknown outcome).
      const endTried = new Set<string>();
      for (const op of history) {
        if ((op.kind === "kill" || op.kind === "rotate") && op.token) endTried.add(op.token);
        if (op.kind === "killsoid") {
          for (const [token, id] of idOf) if (id === op.id) endTried.add(token);
        }
      }
      let checkedWrites = 0;
      const verify = new RedisSessions({ client: admin, wipe: 0 });
      for (const token of [...kept, ...pool]) {
        if (endTried.has(token)) continue;
        const session = await verify.get({ app: APP, token });
        const acked = history.filter((o) => o.kind === "set" && o.ok && o.token === token);
        if (!session) {
          violations.push(`session ${token}, never ended, vanished`);
          continue;
        }
        for (const op of acked) {
          checkedWrites++;
          if (op.value === null) violations.push(`set on live ${token} answered null`);
          else if (!(op.key && op.key in (session.d ?? {}))) {
            violations.push(`acknowledged ${op.key} on ${token} lost`);
          }
        }
      }
      violations.push(...(await checkInvariants(admin, "rs")));
      const counts = { ok: 0, info: 0 };
      for (const op of history) counts[op.ok ? "ok" : "info"]++;
      report("history", {
        seed,
        ms: Date.now() - t0,
        operations: history.length,
        ...counts,
        faults: faults.length,
        readsAfterEnd,
        checkedWrites,
        p100Ms: Math.max(...history.map((o) => o.ms)),
        violations: violations.length,
      });
      expect(violations).toEqual([]);
      expect(unhandled.errors).toEqual([]);
      // The run must have exercised the checker, not just passed vacuously.
      expect(counts.ok).toBeGreaterThan(100);
      expect(counts.info).toBeGreaterThan(0);
      expect(readsAfterEnd).toBeGreaterThan(0);
      expect(checkedWrites).toBeGreaterThan(0);
    });
  });
});
