import type { Redis } from "ioredis";
import { expect } from "vitest";
import { RedisSessions } from "../../../src/index.js";
import { FaultProxy } from "../../helpers/fault-proxy.js";
import type { RedisServerOptions } from "../../helpers/redis-server.js";
import { pace } from "../../helpers/wait.js";
import { checkInvariants } from "./invariants.js";
import {
  adminClient,
  badSamples,
  LIMIT,
  Load,
  type RedisServer,
  report,
  type Sample,
  startRedisServer,
  summarize,
  TIMEOUT,
  watchUnhandled,
} from "./toolbox.js";

/*
 * One outage scenario under steady load, shared by the process and network fault suites:
 * two workers alternate `set` (each adding a fresh key) and `get` on a session of their own, a
 * third creates sessions; a fault is injected, held, healed; then the load runs on for a while.
 * The report says what the pass criteria need: latencies, failures, when service came back,
 * and which writes were acknowledged or may have been applied.
 */

/** What to do to Redis, and when. */
export interface Fault {
  inject(): Promise<void> | void;
  heal(): Promise<void> | void;
}

/** Timings of a run, in ms. */
export interface Phases {
  /** Load before the fault. */
  before: number;
  /** How long the fault lasts. */
  hold: number;
  /** Longest load after the heal (it stops 300 ms after the first success). */
  after: number;
}

/** A finished run. */
export interface Run {
  app: string;
  samples: Sample[];
  injectedAt: number;
  healedAt: number;
  /** The token each set/get worker used. */
  tokens: string[];
  /** Keys whose `set` was acknowledged, per worker. */
  acked: string[][];
  /** Keys whose `set` failed (outcome unknown: it may or may not have been applied), per worker. */
  unknown: string[][];
  /** Tokens whose `create` was acknowledged. */
  created: string[];
}

/** Runs `fault` against `store` under load. `store` must already work when this is called. */
export async function runUnderLoad(
  store: RedisSessions,
  app: string,
  fault: Fault,
  phases: Phases,
): Promise<Run> {
  const tokens: string[] = [];
  for (const id of ["w0", "w1"])
    tokens.push((await store.create({ app, id, ip: "10.0.0.1" })).token);
  const acked: string[][] = [[], []];
  const unknown: string[][] = [[], []];
  const created: string[] = [];
  const rw = new Load(async (w, i) => {
    const token = tokens[w] as string;
    if (i % 2 === 1) return store.get({ app, token });
    const key = `k${i}`;
    try {
      const session = await store.set({ app, token, d: { [key]: i } });
      // A live session read as missing would be a lost acknowledged write (of its create).
      if (!session) throw new Error(`session ${w} lost`);
      acked[w]?.push(key);
      return session;
    } catch (err) {
      unknown[w]?.push(key);
      throw err;
    }
  }, 2);
  const creator = new Load(async (_, i) => {
    const { token } = await store.create({ app, id: `c${i % 5}`, ip: "10.0.0.2" });
    created.push(token);
  }, 1);
  await pace(phases.before);
  const injectedAt = Date.now();
  await fault.inject();
  await pace(phases.hold);
  await fault.heal();
  const healedAt = Date.now();
  // Run on until service is back and has stayed back a while, or `after` ms at most.
  const settled = () =>
    rw.samples.some((s) => s.ok && s.start >= healedAt) && Date.now() - healedAt >= 300;
  while (!settled() && Date.now() - healedAt < phases.after) await pace(10);
  const samples = [...(await rw.stop()), ...(await creator.stop())];
  return { app, samples, injectedAt, healedAt, tokens, acked, unknown, created };
}

/**
 * Checks a run against the shared pass criteria, reading the final state through `direct` (a
 * healthy connection straight to Redis) and `verify` (a store on that connection). Returns the
 * violations and the measured figures.
 */
export async function judge(
  run: Run,
  opts: { limitMs: number; direct: Redis; verify: RedisSessions; ns: string },
) {
  const problems = badSamples(run.samples, opts.limitMs);
  const during = run.samples.filter((s) => s.start >= run.injectedAt && s.start < run.healedAt);
  const failedDuring = during.filter((s) => !s.ok).length;
  let unknownApplied = 0;
  const summary = summarize(run.samples, run.healedAt);
  if (summary.recoveryMs === undefined || summary.recoveryMs > 1000) {
    problems.push(`no success within 1 s of the heal (recovery ${summary.recoveryMs} ms)`);
  }
  for (let w = 0; w < run.tokens.length; w++) {
    const session = await opts.verify.get({ app: run.app, token: run.tokens[w] as string });
    if (!session) {
      problems.push(`session of worker ${w} is gone`);
      continue;
    }
    const d = (session.d ?? {}) as Record<string, unknown>;
    const acked = run.acked[w] ?? [];
    const unknown = run.unknown[w] ?? [];
    for (const key of acked) if (!(key in d)) problems.push(`acknowledged ${key} of ${w} lost`);
    // Exactly once: each set adds 1 to w; it applied at most once even if its reply was lost.
    const applied = session.w - 1;
    unknownApplied += Math.max(0, applied - acked.length);
    if (applied < acked.length || applied > acked.length + unknown.length) {
      problems.push(
        `worker ${w}: ${applied} sets applied, ${acked.length} acknowledged, ${unknown.length} unknown`,
      );
    }
    const present = Object.keys(d).length;
    if (present !== applied) problems.push(`worker ${w}: ${present} keys but w says ${applied}`);
  }
  for (const token of run.created) {
    if (!(await opts.verify.get({ app: run.app, token }))) problems.push(`created ${token} lost`);
  }
  problems.push(...(await checkInvariants(opts.direct, opts.ns)));
  const figures = {
    calls: summary.calls,
    failed: summary.calls - summary.ok,
    failedDuringFault: failedDuring,
    p100DuringFaultMs: Math.max(0, ...during.map((s) => s.ms)),
    p100Ms: summary.maxMs,
    recoveryMs: summary.recoveryMs,
    acked: run.acked.flat().length + run.created.length,
    unknown: run.unknown.flat().length,
    unknownApplied,
    codes: summary.codes,
  };
  return { problems, figures, failedDuring };
}

/** Runs `fn` with a fresh list of cleanups, run in reverse order even when `fn` throws. */
export async function withCleanup<T>(
  fn: (defer: (cleanup: () => unknown) => void) => Promise<T>,
): Promise<T> {
  const cleanups: (() => unknown)[] = [];
  try {
    return await fn((c) => cleanups.push(c));
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // Cleanup must not mask the test's own failure.
      }
    }
  }
}

/** What a scenario's fault acts on. */
export interface Rig {
  server: RedisServer;
  /** The proxy in front of `server` (the store uses it only when the scenario is `proxied`). */
  proxy: FaultProxy;
  /** A control client straight to `server`. */
  admin: Redis;
}

/**
 * One outage scenario from start to end: a store with the fault suites' timeout on a private
 * redis-server (through a fault proxy when `proxied`) runs under load while `fault` is injected,
 * held and healed; then the shared pass criteria must hold (see {@link judge}), at least one call
 * must have failed during the fault (so it really happened), and nothing went unhandled. The
 * figures are reported as `name`.
 */
export async function outageUnderLoad(
  name: string,
  options: {
    server?: RedisServerOptions;
    proxied: boolean;
    fault: (rig: Rig) => Fault;
    phases: Phases;
  },
): Promise<void> {
  await withCleanup(async (defer) => {
    const unhandled = watchUnhandled();
    defer(() => unhandled.stop());
    const server = await startRedisServer(options.server);
    defer(() => server.stop());
    const proxy = await FaultProxy.start(server);
    defer(() => proxy.close());
    const admin = adminClient(server.url);
    defer(() => admin.disconnect());
    const url = options.proxied ? proxy.url : server.url;
    const store = new RedisSessions({ redis: url, timeout: TIMEOUT, wipe: 0 });
    defer(() => store.quit());
    const fault = options.fault({ server, proxy, admin });
    const run = await runUnderLoad(store, "faults", fault, options.phases);
    const verify = new RedisSessions({ client: admin, wipe: 0 });
    const { problems, figures, failedDuring } = await judge(run, {
      limitMs: LIMIT,
      direct: admin,
      verify,
      ns: "rs",
    });
    report(
      name,
      options.proxied ? { ...figures, proxyConnections: proxy.stats.accepted } : figures,
    );
    expect(failedDuring).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    expect(unhandled.errors).toEqual([]);
  });
}
