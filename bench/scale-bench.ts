import type { LoadAverage } from "./load-average.js";
import type { RedisProbe } from "./redis-probe.js";
import type { ScaleConfig } from "./scale-config.js";
import {
  BULK_OPS,
  bulkOp,
  HEAVY_ID,
  ipOf,
  KEPT_ID,
  type Known,
  LONG_TTL,
  type Observation,
  observe,
  type Population,
  QUICK_OPS,
  quickOp,
  type ScaleOp,
  ttlOf,
} from "./scale-ops.js";
import { makeScaleSubject, SCALE_KINDS, type ScaleKind } from "./scale-subjects.js";
import { pool, type Summary, summarize, timed } from "./stats.js";

/** Filling one store with `size` sessions: how long it took and what it costs in memory. */
export interface PopulateRow {
  size: number;
  kind: ScaleKind;
  /** Sessions per second of pipelined creates (`populateInFlight` pending). */
  perSecond: Summary;
  seconds: Summary;
  /** `used_memory` after minus before, divided by `size` (before the user with many is added). */
  bytesPerSession: Summary;
  /** Sessions of each of the two users with many, added after the memory was measured. */
  heavy: number;
  /** SAVE of the populated data set, then DEBUG RELOAD before each repetition: seconds. */
  saveSeconds: number;
  reloadSeconds: Summary;
}

/** One operation of one store at one size, over the repetitions. */
export interface ScaleOpRow {
  size: number;
  kind: ScaleKind;
  op: ScaleOp;
  /** Quick operations: calls/s; bulk: sessions handled per second. Null if every run failed. */
  perSecond: Summary | null;
  /** Seconds per call of a bulk operation (null for quick ones, or if every run failed). */
  seconds: Summary | null;
  /** Sessions a bulk call handled (median); null for quick operations. */
  sessions: number | null;
  /**
   * The slowest command of each repetition (0 for one where nothing reached the SLOWLOG
   * threshold); null when nothing did in any.
   */
  slowest: {
    micros: Summary;
    /** The command of the slowest run. */
    command: string;
    /** The SLOWLOG threshold in µs (0: every command). */
    logFrom: number;
    /** Some value is an upper bound (the slowest of several transactions, see Slowest). */
    bound: boolean;
    /** p99.9 of that command in each repetition where it was the slowest (see Slowest). */
    p999: Summary | null;
    overflowed: boolean;
  } | null;
  /** redis-server CPU µs per call (quick operations: in the operations/s run), Linux only. */
  redisCpuMicros: Summary | null;
  /** ms redis-server spent runnable but waiting for a CPU, per run: the machine's contention. */
  redisWaitMs: Summary | null;
  /** The same during the SLOWLOG run of a quick operation (one call at a time). */
  slowlogWaitMs: Summary | null;
  /** Redis' Lua heap after the run, in bytes (it is not reset between repetitions). */
  luaBytes: Summary;
  /** Commands Redis ran per call (or per bulk call), scripts' own included, by name (median run). */
  commands: Record<string, number>;
  /** Failures and wrong answers, as `rep N: message`. */
  errors: string[];
}

export interface ScaleSizeResult {
  populate: PopulateRow[];
  ops: ScaleOpRow[];
}

const namespaceOf = (kind: ScaleKind) => `scale-${kind}`;
const snapshotOf = (kind: ScaleKind) => `scale-${kind}.rdb`;

/** The sessions reads and kills use: a spread-out sample, and distinct long-lived ones. */
function pickKnown(tokens: string[], cfg: ScaleConfig): { reads: Known[]; kills: Known[] } {
  const n = tokens.length;
  const known = (i: number) => ({ token: tokens[i]!, id: `u${i}` });
  const readCount = Math.min(n, 20_000);
  const reads = Array.from({ length: readCount }, (_, k) => known(Math.floor((k * n) / readCount)));
  const kills: Known[] = [];
  const want = cfg.opsCalls + cfg.slowlogCalls;
  for (let i = n - 1; i >= 0 && kills.length < want; i--) {
    // Never a session the wipe is meant to find, so that its count stays exact.
    if (ttlOf(i) === LONG_TTL) kills.push(known(i));
  }
  return { reads, kills };
}

/**
 * Fills an empty Redis with `size` sessions of one store (user `u<i>`, the same ids, ips, d
 * and ttls for every store), measures the memory, adds the user with many sessions and saves
 * the data set, so that each repetition starts from the same sessions without filling again.
 */
async function populate(
  kind: ScaleKind,
  size: number,
  cfg: ScaleConfig,
  probe: RedisProbe,
  host: string,
  port: number,
): Promise<{ seconds: number; bytes: number; tokens: string[]; heavy: number; save: number }> {
  await probe.flush();
  await probe.logFrom(-1);
  await probe.resetSlowlog();
  const s = makeScaleSubject(kind, host, port, namespaceOf(kind));
  try {
    // Loads the scripts and connects, so that neither counts in the memory of the sessions.
    await s.kill(await s.create("warm-up", ipOf(0), LONG_TTL));
    const before = await probe.usedMemory();
    const tokens = new Array<string>(size);
    const seconds = await timed(() =>
      pool(size, cfg.populateInFlight, async (i) => {
        tokens[i] = await s.create(`u${i}`, ipOf(i), ttlOf(i));
      }),
    );
    await probe.idle();
    const bytes = ((await probe.usedMemory()) - before) / size;
    const heavy = Math.max(1, Math.round(size * cfg.heavyShare));
    await pool(2 * heavy, cfg.populateInFlight, async (i) => {
      if (i < heavy) await s.create(HEAVY_ID, ipOf(i), LONG_TTL);
      else await s.create(KEPT_ID, ipOf(i - heavy), ttlOf(i - heavy));
    });
    const save = await timed(() => probe.snapshot(snapshotOf(kind)));
    return { seconds, bytes, tokens, heavy, save };
  } finally {
    await s.quit();
  }
}

/** Every operation once on one store, from its saved data set. */
async function repetition(
  kind: ScaleKind,
  rep: number,
  population: Omit<Population, "alive" | "killed" | "created" | "uncertain">,
  cfg: ScaleConfig,
  probe: RedisProbe,
  host: string,
  port: number,
): Promise<{ reload: number; runs: Map<ScaleOp, Observation> }> {
  const reload = await timed(() => probe.restore(snapshotOf(kind)));
  const p: Population = {
    ...population,
    alive: population.size + 2 * population.heavy,
    killed: 0,
    created: 0,
    uncertain: false,
  };
  const make = () => makeScaleSubject(kind, host, port, namespaceOf(kind));
  let s = make();
  const runs = new Map<ScaleOp, Observation>();
  const keep = async (op: ScaleOp, o: Observation) => {
    runs.set(op, o);
    if (!o.error) return;
    p.uncertain = true;
    // A failed call may leave others of the same operation running (in the cluster layout,
    // the other buckets'): closing the store's connections stops them, then Redis finishes
    // the script it is in.
    await s.quit();
    await probe.idle();
    s = make();
  };
  try {
    await s.get(p.reads[0]!.token); // connects and loads the scripts, untimed
    for (const op of QUICK_OPS) {
      // Operations/s with SLOWLOG off and many calls pending. Then the slowest command with
      // every command logged, one call at a time: with Redis busy non-stop, the maximum would
      // mostly show how long the shared machine kept redis-server off its CPU mid-command.
      const n = op === "activity" ? cfg.activityCalls : cfg.opsCalls;
      const rate = await observe(probe, -1, quickOp(op, s, p, n, cfg.inFlight, `${rep}r`));
      const slow = await observe(probe, 0, quickOp(op, s, p, cfg.slowlogCalls, 1, `${rep}s`));
      const error = rate.error ?? slow.error;
      await keep(op, {
        ...rate,
        ...(slow.slowest ? { slowest: slow.slowest } : {}),
        ...(slow.redisWaitMs === undefined ? {} : { slowlogWaitMs: slow.redisWaitMs }),
        ...(error ? { error } : {}),
      });
    }
    for (const op of BULK_OPS) {
      if (op === "migrate" && !s.migrateReads) continue;
      await keep(op, await observe(probe, cfg.bulkSlowlogMicros, bulkOp(op, s, p)));
    }
  } finally {
    await s.quit();
  }
  return { reload, runs };
}

const summaryOf = (xs: number[]) => (xs.length > 0 ? summarize(xs) : null);
const median = (xs: number[]) => (xs.length > 0 ? summarize(xs).median : 0);

function rowOf(
  size: number,
  kind: ScaleKind,
  op: ScaleOp,
  runs: Observation[],
  quick: boolean,
  cfg: ScaleConfig,
): ScaleOpRow {
  const ok = runs.filter((r) => !r.error);
  const logged = runs.filter((r) => r.slowest);
  const worst = logged.reduce<Observation | undefined>(
    (a, r) => (a && a.slowest!.micros >= r.slowest!.micros ? a : r),
    undefined,
  );
  const commands: Record<string, number> = {};
  const names = new Set(runs.flatMap((r) => Object.keys(r.mix)));
  for (const name of names) {
    commands[name] = median(runs.map((r) => (r.mix[name] ?? 0) / (quick ? r.count || 1 : 1)));
  }
  return {
    size,
    kind,
    op,
    perSecond: ok.length > 0 ? summarize(ok.map((r) => r.count / r.seconds)) : null,
    seconds: !quick && ok.length > 0 ? summarize(ok.map((r) => r.seconds)) : null,
    sessions: quick || ok.length === 0 ? null : median(ok.map((r) => r.count)),
    slowest: worst
      ? {
          micros: summarize(runs.map((r) => r.slowest?.micros ?? 0)),
          command: worst.slowest!.command,
          logFrom: quick ? 0 : cfg.bulkSlowlogMicros,
          bound: logged.some((r) => r.slowest!.bound),
          p999: summaryOf(logged.flatMap((r) => r.slowest!.p999 ?? [])),
          overflowed: logged.some((r) => r.slowest!.overflowed),
        }
      : null,
    redisCpuMicros: summaryOf(
      runs.flatMap((r) =>
        r.redisCpuMs === undefined ? [] : [(r.redisCpuMs * 1000) / (quick ? r.count || 1 : 1)],
      ),
    ),
    redisWaitMs: summaryOf(runs.flatMap((r) => r.redisWaitMs ?? [])),
    slowlogWaitMs: summaryOf(runs.flatMap((r) => r.slowlogWaitMs ?? [])),
    luaBytes: summarize(runs.map((r) => r.luaBytes)),
    commands,
    errors: runs.flatMap((r, i) => (r.error ? [`rep ${i + 1}: ${r.error}`] : [])),
  };
}

/**
 * One size: each store is populated (memory measured over `populations` fills), then every
 * operation runs `reps` times, the stores taking turns within each repetition.
 */
export async function scaleSize(
  size: number,
  cfg: ScaleConfig,
  probe: RedisProbe,
  host: string,
  port: number,
  load: LoadAverage,
  log: (line: string) => void,
): Promise<ScaleSizeResult> {
  // A fill of a million sessions takes minutes per store: memory is measured on one fill there.
  const populations = size <= 200_000 ? cfg.reps : 1;
  const filled = new Map<ScaleKind, Awaited<ReturnType<typeof populate>>[]>();
  load.enter(`populate ${size}`);
  for (let k = 0; k < populations; k++) {
    for (const kind of SCALE_KINDS) {
      const result = await populate(kind, size, cfg, probe, host, port);
      const earlier = filled.get(kind) ?? [];
      for (const f of earlier) f.tokens = []; // only the last fill is used
      filled.set(kind, [...earlier, result]);
      const rate = Math.round(size / result.seconds);
      log(`scale ${size}: ${kind} filled in ${result.seconds.toFixed(1)} s (${rate}/s)`);
    }
  }
  load.enter(`operations ${size}`);
  const runs = new Map<string, Observation[]>();
  const reloads = new Map<ScaleKind, number[]>();
  for (let rep = 0; rep < cfg.reps; rep++) {
    for (let k = 0; k < SCALE_KINDS.length; k++) {
      const kind = SCALE_KINDS[(k + rep) % SCALE_KINDS.length]!;
      const last = filled.get(kind)!.at(-1)!;
      const { reads, kills } = pickKnown(last.tokens, cfg);
      const population = { size, heavy: last.heavy, reads, kills };
      const r = await repetition(kind, rep, population, cfg, probe, host, port);
      reloads.set(kind, [...(reloads.get(kind) ?? []), r.reload]);
      for (const [op, o] of r.runs)
        runs.set(`${kind}/${op}`, [...(runs.get(`${kind}/${op}`) ?? []), o]);
      const failed = [...r.runs].filter(([, o]) => o.error).map(([op]) => op);
      log(
        `scale ${size}: rep ${rep + 1}/${cfg.reps} ${kind} done${failed.length ? `; failed: ${failed.join(", ")}` : ""}`,
      );
    }
  }
  const populate_ = SCALE_KINDS.map((kind): PopulateRow => {
    const fills = filled.get(kind)!;
    return {
      size,
      kind,
      perSecond: summarize(fills.map((f) => size / f.seconds)),
      seconds: summarize(fills.map((f) => f.seconds)),
      bytesPerSession: summarize(fills.map((f) => f.bytes)),
      heavy: fills.at(-1)!.heavy,
      saveSeconds: fills.at(-1)!.save,
      reloadSeconds: summarize(reloads.get(kind)!),
    };
  });
  const ops: ScaleOpRow[] = [];
  for (const op of [...QUICK_OPS, ...BULK_OPS]) {
    for (const kind of SCALE_KINDS) {
      const list = runs.get(`${kind}/${op}`);
      if (list)
        ops.push(rowOf(size, kind, op, list, (QUICK_OPS as readonly string[]).includes(op), cfg));
    }
  }
  return { populate: populate_, ops };
}
