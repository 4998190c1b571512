import { Redis } from "ioredis";
import { type MonitorLine as Line, type Monitor, openMonitor } from "../test/helpers/monitor.js";
import type { BenchConfig } from "./config.js";
import { OPS, type Op } from "./store-bench.js";
import { makeSubject, type Subject, type SubjectKind } from "./subjects.js";

/** What one call of an operation costs in Redis, averaged over the traced calls. */
export interface CommandCount {
  /** Commands the client sent, MULTI and EXEC included. */
  sent: number;
  /** Commands run inside Lua scripts (`redis.call`). */
  inScripts: number;
  /** Everything Redis executed: sent + inScripts. */
  total: number;
  /** Requests the client had to wait for one after another (a MULTI…EXEC block counts once). */
  roundTrips: number;
}

/** Commands and round trips of one operation, for both stores. */
export interface CommandRow {
  op: Op;
  v4: CommandCount;
  ours: CommandCount;
}

/**
 * Counts Redis commands and round trips per operation with MONITOR. Runs apart from the timed
 * runs (MONITOR slows Redis down). Every call is awaited before the next, so a command that is
 * not part of a MULTI block or a script is one round trip.
 */
export async function countCommands(
  cfg: BenchConfig,
  host: string,
  port: number,
): Promise<CommandRow[]> {
  // A plain socket: ioredis' monitor() misparses lines that arrive with its "+OK".
  const monitor: Monitor = await openMonitor(host, port);
  const marker = new Redis({ host, port });
  const lines: Line[] = monitor.lines;
  let marks = 0;
  try {
    // A marker command the monitor sees in order with everything before it.
    const mark = async (): Promise<number> => {
      const name = `bench-mark-${marks++}`;
      await marker.echo(name);
      const until = Date.now() + 5000;
      for (;;) {
        const at = lines.findIndex(
          (l) => l.args[0]?.toLowerCase() === "echo" && l.args[1] === name,
        );
        if (at >= 0) return at;
        if (Date.now() > until) throw new Error("MONITOR did not show the marker");
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const trace = async (calls: number, run: () => Promise<void>): Promise<CommandCount> => {
      const from = await mark();
      await run();
      const to = await mark();
      return count(lines.slice(from + 1, to), calls);
    };
    const k = cfg.store.traceCalls;
    const results = {} as Record<"v4" | "ours", Record<Op, CommandCount>>;
    for (const kind of ["v4", "ours"] as const satisfies readonly SubjectKind[]) {
      const subject = makeSubject(kind, host, port, `trace-${kind}`);
      try {
        await subject.ping();
        await warm(subject);
        results[kind] = await traceOps(subject, k, trace);
      } finally {
        await subject.quit();
      }
    }
    return OPS.map((op) => ({ op, v4: results.v4[op], ours: results.ours[op] }));
  } finally {
    monitor.close();
    marker.disconnect();
  }
}

/** Runs every operation once, so that scripts are loaded before anything is counted. */
async function warm(s: Subject): Promise<void> {
  const token = await s.create("warm", "127.0.0.1");
  await s.get(token);
  await s.set(token, 1);
  await s.soid("warm");
  await s.activity();
  await s.kill(token);
  await s.create("warm", "127.0.0.1");
  await s.killall();
}

async function traceOps(
  s: Subject,
  k: number,
  trace: (calls: number, run: () => Promise<void>) => Promise<CommandCount>,
): Promise<Record<Op, CommandCount>> {
  const tokens: string[] = [];
  const each = (run: (i: number) => Promise<unknown>) =>
    trace(k, async () => {
      for (let i = 0; i < k; i++) await run(i);
    });
  const out = {} as Record<Op, CommandCount>;
  out.create = await each(async (i) => tokens.push(await s.create(`t${i}`, "127.0.0.1")));
  out.get = await each((i) => s.get(tokens[i]!));
  out.set = await each((i) => s.set(tokens[i]!, i));
  out.soid = await each((i) => s.soid(`t${i}`));
  out.activity = await each(() => s.activity());
  out.kill = await each((i) => s.kill(tokens[i]!));
  for (let i = 0; i < k; i++) await s.create(`t${i}`, "127.0.0.1");
  // One killall over k sessions: reported per call, not per session.
  out.killall = await trace(1, async () => {
    await s.killall();
  });
  return out;
}

function count(lines: readonly Line[], calls: number): CommandCount {
  let sent = 0;
  let inScripts = 0;
  let roundTrips = 0;
  const inMulti = new Set<string>();
  for (const { args, source } of lines) {
    if (source === "lua") {
      inScripts++;
      continue;
    }
    sent++;
    const cmd = args[0]?.toLowerCase();
    if (cmd === "multi") {
      inMulti.add(source);
      roundTrips++;
    } else if (cmd === "exec" || cmd === "discard") inMulti.delete(source);
    else if (!inMulti.has(source)) roundTrips++;
  }
  return {
    sent: sent / calls,
    inScripts: inScripts / calls,
    total: (sent + inScripts) / calls,
    roundTrips: roundTrips / calls,
  };
}
