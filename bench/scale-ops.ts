import type { CommandMix, RedisProbe, Slowest } from "./redis-probe.js";
import type { ScaleSubject } from "./scale-subjects.js";
import { pool, timed } from "./stats.js";

/** Operations on one session or one user: measured as calls per second. */
export const QUICK_OPS = ["create", "get", "set", "soid", "activity", "kill"] as const;
/** Operations over many sessions: measured as sessions per second and seconds per call. */
export const BULK_OPS = [
  "soid-heavy",
  "soapp",
  "migrate",
  "killsoid-heavy",
  "wipe",
  "killall",
] as const;
export type QuickOp = (typeof QUICK_OPS)[number];
export type BulkOp = (typeof BULK_OPS)[number];
export type ScaleOp = QuickOp | BulkOp;

/** Row labels of the operations. */
export const OP_LABELS: Record<ScaleOp, string> = {
  create: "create",
  get: "get",
  set: "set",
  soid: "soid (a user with 1 session)",
  activity: "activity",
  kill: "kill",
  "soid-heavy": "soid (the user with many sessions)",
  soapp: "soapp (every session)",
  migrate: "migrate --dry-run (its reads)",
  "killsoid-heavy": "killsoid (the user with many sessions)",
  wipe: "the wipe (10 % expired, the kept user's too)",
  killall: "killall (the rest, the kept user's too)",
};

/** Seconds a session of the population lives: long, except every tenth (the wipe's share). */
export const LONG_TTL = 86_400;
export const SHORT_TTL = 3600;
/** How far the wipe's clock is moved on: past SHORT_TTL, well before LONG_TTL. */
export const WIPE_AHEAD = 2 * SHORT_TTL;
/** The user with many sessions that soid and killsoid work on. */
export const HEAVY_ID = "heavy";
/**
 * Another user with as many sessions (every tenth with the short ttl), left in place for the
 * wipe and killall: those must stay bounded with 100,000 sessions of one user too.
 */
export const KEPT_ID = "heavy-kept";

export const ttlOf = (i: number) => (i % 10 === 9 ? SHORT_TTL : LONG_TTL);
export const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** One run of one operation. */
export interface Observation {
  seconds: number;
  /** Calls (quick operations) or sessions handled (bulk operations). */
  count: number;
  /** What SLOWLOG logged; absent when nothing passed its threshold. */
  slowest?: Slowest;
  mix: CommandMix;
  /** Why the operation failed or answered wrongly, if it did. */
  error?: string;
  /** redis-server's CPU time during the run, and its time waiting for a CPU (Linux only). */
  redisCpuMs?: number;
  redisWaitMs?: number;
  /** Quick operations: redis-server's wait for a CPU during the SLOWLOG run. */
  slowlogWaitMs?: number;
  /** Bytes of Redis' Lua heap after the run (INFO memory used_memory_lua). */
  luaBytes: number;
}

/**
 * Runs `run` once with SLOWLOG logging from `logFrom` µs (-1: off): counts the commands it
 * made Redis run and, when logging, the slowest one. A failure is recorded, not thrown: after
 * it, the probe waits for Redis, since a script can outlive its caller's timeout.
 */
export async function observe(
  probe: RedisProbe,
  logFrom: number,
  run: () => Promise<number>,
): Promise<Observation> {
  await probe.idle();
  await probe.logFrom(logFrom);
  await probe.resetSlowlog();
  await probe.resetStats();
  const sched0 = probe.schedule();
  let count = 0;
  let error: string | undefined;
  const seconds = await timed(async () => {
    try {
      count = await run();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      error = e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
    }
  });
  await probe.idle();
  const sched1 = probe.schedule();
  const sched =
    sched0 && sched1
      ? { redisCpuMs: sched1.cpuMs - sched0.cpuMs, redisWaitMs: sched1.waitMs - sched0.waitMs }
      : {};
  const stats = await probe.commandStats();
  const slowest = logFrom >= 0 ? await probe.slowest(stats) : undefined;
  await probe.logFrom(-1);
  const mix = Object.fromEntries(Object.entries(stats).map(([name, st]) => [name, st.calls]));
  return {
    seconds,
    count,
    mix,
    luaBytes: await probe.luaMemory(),
    ...sched,
    ...(slowest ? { slowest } : {}),
    ...(error ? { error } : {}),
  };
}

/** A session of the population that reads and kills use. */
export interface Known {
  token: string;
  id: string;
}

/** What a repetition knows about the population it works on, and what it changed. */
export interface Population {
  size: number;
  heavy: number;
  /** Sessions spread over the population, for get, set and soid. */
  reads: Known[];
  /** Distinct long-lived sessions, for kill: every pass takes the next ones. */
  kills: Known[];
  /** Sessions alive now: changes with create and kill. */
  alive: number;
  killed: number;
  created: number;
  /** Set once an operation failed: what it left behind is unknown, so counts go unchecked. */
  uncertain: boolean;
}

/** Calls `fn(i)` `calls` times, `inFlight` at a time; fails if any answer is wrong. */
async function calls(
  n: number,
  inFlight: number,
  fn: (i: number) => Promise<boolean>,
): Promise<number> {
  let wrong = 0;
  await pool(n, inFlight, async (i) => {
    if (!(await fn(i))) wrong++;
  });
  if (wrong > 0) throw new Error(`${wrong} of ${n} calls answered wrongly`);
  return n;
}

/** One pass of a quick operation: `n` calls; updates the population's counts. */
export function quickOp(
  op: QuickOp,
  s: ScaleSubject,
  p: Population,
  n: number,
  inFlight: number,
  pass: string,
): () => Promise<number> {
  const read = (i: number) => p.reads[(i * 7919) % p.reads.length]!;
  switch (op) {
    case "create":
      return async () => {
        const done = await calls(n, inFlight, async (i) => {
          const token = await s.create(`c${pass}-${i}`, ipOf(i), LONG_TTL);
          return token.length === 64;
        });
        p.created += n;
        p.alive += n;
        return done;
      };
    case "get":
      return () => calls(n, inFlight, (i) => s.get(read(i).token));
    case "set":
      return () => calls(n, inFlight, (i) => s.set(read(i).token, i));
    case "soid":
      return () => calls(n, inFlight, async (i) => (await s.soid(read(i).id)) === 1);
    case "activity":
      return () => calls(n, inFlight, async () => (await s.activity(LONG_TTL)) > 0);
    case "kill":
      return async () => {
        const from = p.killed;
        if (from + n > p.kills.length) throw new Error("kill: no sessions left to kill");
        p.killed += n;
        p.alive -= n;
        return calls(n, inFlight, async (i) => (await s.kill(p.kills[from + i]!.token)) === 1);
      };
  }
}

/** Sessions with the short ttl among the first `size`: what the wipe removes. */
export const expiring = (size: number) => Math.floor(size / 10);

/** One bulk operation: resolves to the sessions it handled, checked against what it should. */
export function bulkOp(op: BulkOp, s: ScaleSubject, p: Population): () => Promise<number> {
  const expect = async (what: string, want: number, got: Promise<number>) => {
    const n = await got;
    if (n !== want && !p.uncertain) throw new Error(`${what}: expected ${want} sessions, got ${n}`);
    return n;
  };
  switch (op) {
    case "soid-heavy":
      return () => expect("soid", p.heavy, s.soid(HEAVY_ID));
    case "soapp":
      return () => expect("soapp", p.alive, s.soapp(LONG_TTL));
    case "migrate":
      return () => {
        if (!s.migrateReads) throw new Error("migrate: not available for this store");
        return expect("migrate", p.alive, s.migrateReads());
      };
    case "killsoid-heavy":
      return async () => {
        const n = await expect("killsoid", p.heavy, s.killsoid(HEAVY_ID));
        p.alive -= n;
        return n;
      };
    case "wipe":
      return async () => {
        const want = expiring(p.size) + expiring(p.heavy);
        const n = await expect("wipe", want, s.wipeAhead(WIPE_AHEAD));
        p.alive -= n;
        return n;
      };
    case "killall":
      return async () => {
        const n = await expect("killall", p.alive, s.killall());
        p.alive = 0;
        return n;
      };
  }
}
