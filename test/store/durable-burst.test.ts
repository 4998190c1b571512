import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRedisSessionsError, RedisSessions } from "../../src/index.js";
import { createEngine } from "../../src/layouts/engine.js";
import { DurableKills } from "../../src/store/durable.js";
import { uniqueNamespace } from "../helpers/context.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { pace, until } from "../helpers/wait.js";

/*
 * durableKill with its replica down. WAIT blocks the connection it runs on for its whole timeout,
 * so with one kill connection every logout queued behind the WAITs of the ones before: a burst
 * of logouts ended in ERS_STORE_TIMEOUT, and the kills landed seconds later. A logout must take
 * effect at once; only its confirmation may wait, and the backlog is bounded.
 */

const app = "durable";
const WAIT_MS = 500;
let master: RedisServer;
let replica: RedisServer;
let raw: Redis;
let store: RedisSessions;

beforeAll(async () => {
  master = await startRedisServer();
  replica = await startRedisServer({ args: ["--replicaof", master.host, String(master.port)] });
  raw = new Redis(master.url);
  await until(async () => /slave0:.*state=online/.test(await raw.info("replication")), {
    ms: 10_000,
    what: "the replica to be online",
  });
  store = new RedisSessions({
    redis: master.url,
    namespace: uniqueNamespace(),
    wipe: 0,
    timeout: 1000,
    durableKill: { replicas: 1, timeout: WAIT_MS },
  });
}, 30_000);

afterAll(async () => {
  replica?.thaw();
  await store?.quit();
  raw?.disconnect();
  await replica?.stop();
  await master?.stop();
});

async function sessions(n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++)
    tokens.push((await store.create({ app, id: `u${i}`, ip: "::1" })).token);
  return tokens;
}

async function alive(tokens: readonly string[]): Promise<number> {
  const keys = tokens.map((t) => store.keys.session(app, t));
  return Number(await raw.exists(...keys));
}

/** A kill, with when it settled and how. */
async function timedKill(token: string) {
  const started = performance.now();
  try {
    const result = await store.kill({ app, token });
    return { result, code: null, ms: performance.now() - started };
  } catch (err) {
    if (!isRedisSessionsError(err)) throw err;
    return { result: null, code: err.code, ms: performance.now() - started };
  }
}

describe("durableKill", () => {
  it("confirms kills while the replica is up", async () => {
    const [a, b] = await sessions(2);
    const results = await Promise.all([a, b].map((token) => store.kill({ app, token: token! })));
    expect(results).toEqual([
      { kill: 1, durable: true },
      { kill: 1, durable: true },
    ]);
  });

  describe("with the replica frozen", () => {
    it("20 concurrent logouts take effect at once and all settle within about one WAIT", async () => {
      const tokens = await sessions(20);
      replica.freeze();
      try {
        const kills = tokens.map((token) => timedKill(token));
        // Gone from Redis while the confirmations still wait.
        let settled = false;
        void Promise.all(kills).then(() => {
          settled = true;
        });
        await until(async () => (await alive(tokens)) === 0, {
          ms: WAIT_MS / 2,
          every: 5,
          what: "every session to be gone",
        });
        expect(settled).toBe(false);
        const done = await Promise.all(kills);
        expect(done.map((d) => d.code)).toEqual(tokens.map(() => null));
        expect(done.map((d) => d.result)).toEqual(tokens.map(() => ({ kill: 1, durable: false })));
        const slowest = Math.max(...done.map((d) => d.ms));
        console.info(`[durable-burst] 20 concurrent kills settled within ${slowest.toFixed(0)} ms`);
        expect(slowest).toBeLessThan(WAIT_MS + 300);
      } finally {
        replica.thaw();
      }
    });

    it("a burst spread over a second: each lands at once, none times out", async () => {
      const tokens = await sessions(20);
      replica.freeze();
      try {
        const kills: ReturnType<typeof timedKill>[] = [];
        const lateLanding: number[] = [];
        for (const token of tokens) {
          kills.push(timedKill(token));
          // Each kill is in Redis within a few ms of being sent, WAITs or not.
          const sent = performance.now();
          await until(async () => (await alive([token])) === 0, {
            ms: 200,
            every: 2,
            what: "the kill to land",
          });
          lateLanding.push(performance.now() - sent);
          // Logouts arriving one every 50 ms (pacing the load, not waiting for anything).
          await pace(50);
        }
        const done = await Promise.all(kills);
        expect(done.map((d) => d.code)).toEqual(tokens.map(() => null));
        expect(done.every((d) => d.result?.durable === false && d.result.kill === 1)).toBe(true);
        const slowest = Math.max(...done.map((d) => d.ms));
        console.info(
          `[durable-burst] spread burst: landed within ${Math.max(...lateLanding).toFixed(0)} ms, ` +
            `confirmations within ${slowest.toFixed(0)} ms`,
        );
        // One WAIT at a time: a confirmation waits for at most the one running, then its own.
        expect(slowest).toBeLessThan(2 * WAIT_MS + 300);
      } finally {
        replica.thaw();
      }
    });

    it("bounds the confirmations that wait: beyond the bound, a kill answers durable: false at once", async () => {
      const tokens = await sessions(10);
      const clients: Redis[] = [];
      const lane = () => {
        const client = new Redis(master.url, { commandTimeout: 1000 });
        clients.push(client);
        return {
          client,
          engine: createEngine("compat", {
            client,
            namespace: store.options.namespace,
            clock: () => "",
            timeout: 1000,
            buckets: 1,
          }),
        };
      };
      const durable = new DurableKills(lane, { replicas: 1, timeout: WAIT_MS }, 3);
      replica.freeze();
      try {
        const started = performance.now();
        const settledAt: number[] = [];
        const results = await Promise.all(
          tokens.map((token) =>
            durable
              .run(app, { token }, (e) => e.kill(app, token))
              .then((r) => {
                settledAt.push(performance.now() - started);
                return r;
              }),
          ),
        );
        expect(results).toEqual(tokens.map(() => ({ kill: 1, durable: false })));
        expect(await alive(tokens)).toBe(0);
        settledAt.sort((a, b) => a - b);
        // Seven answered before any WAIT could time out; three waited for theirs.
        expect(settledAt.filter((ms) => ms < WAIT_MS / 2)).toHaveLength(7);
        expect(settledAt.filter((ms) => ms >= WAIT_MS)).toHaveLength(3);
      } finally {
        replica.thaw();
        await durable.close();
      }
    });
  });
});
