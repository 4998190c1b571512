import type { BenchConfig } from "./config.js";
import { pool, ratio, type Summary, summarize, timed } from "./stats.js";
import { makeSubject, type Subject, type SubjectKind } from "./subjects.js";

/** The operations measured, in the order each repetition runs them. */
export const OPS = ["create", "get", "set", "soid", "activity", "kill", "killall"] as const;
export type Op = (typeof OPS)[number];

/** How calls are issued: one at a time, or many pending at once (optionally auto-pipelined). */
export const MODES = [
  { mode: "sequential", label: "sequential", ours: "ours", concurrent: false },
  { mode: "concurrent", label: "in flight", ours: "ours", concurrent: true },
  {
    mode: "autopipelined",
    label: "in flight, auto-pipelining",
    ours: "ours-autopipelined",
    concurrent: true,
  },
] as const satisfies readonly {
  mode: string;
  label: string;
  ours: SubjectKind;
  concurrent: boolean;
}[];
export type Mode = (typeof MODES)[number]["mode"];

/** One operation in one mode: operations per second of each store and their ratio. */
export interface StoreRow {
  mode: Mode;
  op: Op;
  /** Calls pending at once. */
  inFlight: number;
  /** redis-sessions 4.0.0, operations/s (killall: sessions killed/s). */
  v4: Summary;
  /** This package, operations/s (killall: sessions killed/s). */
  ours: Summary;
  /** ours / v4 per repetition. */
  ratio: Summary;
}

const IP = "127.0.0.1";

/** One store under test with the tokens of its sessions. */
interface Side {
  name: "v4" | "ours";
  subject: Subject;
  tokens: string[];
}

/**
 * Runs `call` for i in 0..n-1 with `inFlight` calls pending; resolves to calls per second. Each
 * answer is checked, so a store that did less work would fail, not win.
 */
async function rate(
  op: Op,
  n: number,
  inFlight: number,
  call: (i: number) => Promise<boolean>,
): Promise<number> {
  let ok = 0;
  const seconds = await timed(() =>
    pool(n, inFlight, async (i) => {
      if (await call(i)) ok++;
    }),
  );
  if (ok !== n) throw new Error(`${op}: ${n - ok} of ${n} calls gave a wrong answer`);
  return n / seconds;
}

/**
 * Measures one operation on one store. Reads and updates make `passes` passes over the `n`
 * sessions (longer windows, steadier figures); create and kill use each session once; killall
 * is one call, its rate is sessions/s.
 */
async function measure(
  op: Op,
  side: Side,
  n: number,
  inFlight: number,
  passes: number,
): Promise<number> {
  const { subject: s, tokens } = side;
  const calls = n * passes;
  switch (op) {
    case "create":
      return rate(op, n, inFlight, async (i) => {
        tokens[i] = await s.create(`u${i}`, IP);
        return tokens[i]!.length === 64;
      });
    case "get":
      return rate(op, calls, inFlight, (i) => s.get(tokens[i % n]!));
    case "set":
      return rate(op, calls, inFlight, (i) => s.set(tokens[i % n]!, i));
    case "soid":
      return rate(op, calls, inFlight, async (i) => (await s.soid(`u${i % n}`)) === 1);
    case "activity":
      return rate(op, calls, inFlight, async () => (await s.activity()) === n);
    case "kill":
      return rate(op, n, inFlight, async (i) => (await s.kill(tokens[i]!)) === 1);
    case "killall": {
      await pool(n, inFlight, async (i) => {
        await s.create(`u${i}`, IP);
      });
      let killed = 0;
      const seconds = await timed(async () => {
        killed = await s.killall();
      });
      if (killed !== n) throw new Error(`killall: killed ${killed} of ${n}`);
      return n / seconds;
    }
  }
}

/**
 * One repetition of one mode: both stores go through every operation, v4 and ours back to back
 * for each (who goes first alternates), so that both see the same moment of a noisy machine.
 */
async function repetition(
  kinds: readonly [SubjectKind, SubjectKind],
  host: string,
  port: number,
  tag: string,
  n: number,
  inFlight: number,
  passes: number,
  oursFirst: boolean,
): Promise<Record<"v4" | "ours", Record<Op, number>>> {
  const sides: Side[] = kinds.map((kind) => ({
    name: kind === "v4" ? "v4" : "ours",
    subject: makeSubject(kind, host, port, `${tag}-${kind}`),
    tokens: new Array<string>(n).fill(""),
  }));
  if (oursFirst) sides.reverse();
  const out = { v4: {}, ours: {} } as Record<"v4" | "ours", Record<Op, number>>;
  try {
    for (const side of sides) await side.subject.ping();
    for (const op of OPS) {
      for (const side of sides) out[side.name][op] = await measure(op, side, n, inFlight, passes);
    }
  } finally {
    await Promise.all(sides.map((side) => side.subject.quit()));
  }
  return out;
}

/**
 * Store-level comparison on one Redis: every mode, both stores, `storeReps` repetitions with
 * the order of modes and stores rotating.
 */
export async function storeBench(
  cfg: BenchConfig,
  host: string,
  port: number,
  log: (line: string) => void,
): Promise<StoreRow[]> {
  const { sessions: n, reps, passes, inFlight: many } = cfg.store;
  // Warm-up, untimed: JIT, connections, the script cache.
  for (const mode of MODES) {
    await repetition(["v4", mode.ours], host, port, `warm-${mode.mode}`, n, many, 1, false);
  }
  const samples = new Map<string, number[]>();
  const push = (key: string, value: number) => {
    const list = samples.get(key) ?? [];
    list.push(value);
    samples.set(key, list);
  };
  for (let rep = 0; rep < reps; rep++) {
    for (let m = 0; m < MODES.length; m++) {
      const mode = MODES[(m + rep) % MODES.length]!;
      const inFlight = mode.concurrent ? many : 1;
      const tag = `r${rep}-${mode.mode}`;
      const rates = await repetition(
        ["v4", mode.ours],
        host,
        port,
        tag,
        n,
        inFlight,
        passes,
        rep % 2 === 1,
      );
      for (const op of OPS) {
        push(`${mode.mode}/${op}/v4`, rates.v4[op]);
        push(`${mode.mode}/${op}/ours`, rates.ours[op]);
      }
    }
    log(`store: rep ${rep + 1}/${reps} done`);
  }
  const rows: StoreRow[] = [];
  for (const mode of MODES) {
    for (const op of OPS) {
      const v4 = samples.get(`${mode.mode}/${op}/v4`)!;
      const ours = samples.get(`${mode.mode}/${op}/ours`)!;
      rows.push({
        mode: mode.mode,
        op,
        inFlight: mode.concurrent ? many : 1,
        v4: summarize(v4),
        ours: summarize(ours),
        ratio: ratio(ours, v4),
      });
    }
  }
  return rows;
}
