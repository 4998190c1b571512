import type { Results } from "./results.js";
import type { Summary } from "./stats.js";
import { MODES } from "./store-bench.js";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const num = (n: number, digits: number) => n.toFixed(digits);
/** `median (min–max)` */
const range = (s: Summary, f: (n: number) => string) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
const times = (n: number) => `${num(n, 2)}×`;
const ms = (n: number) => num(n, n < 10 ? 2 : 1);
// autocannon measures latency in whole milliseconds.
const wholeMs = (n: number) => String(Math.round(n));
const count = (n: number) => (Number.isInteger(n) ? String(n) : num(n, 1));

function storeNote(passes: number): string {
  return (
    `create and kill use each session once; get, set, soid and activity make ${passes} passes ` +
    "over them; killall is one call over all of them (its figure is sessions killed per second).\n"
  );
}

function table(head: string[], rows: string[][], align: ("l" | "r")[]): string {
  const rule = align.map((a) => (a === "r" ? "---:" : "---"));
  return [head, rule, ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** The run's figures as Markdown tables (printed by `npm run bench`, saved with --save, summarised in bench/README.md). */
export function markdown(r: Results): string {
  const out: string[] = [];
  const { machine: m, config: c } = r;
  out.push(
    `Measured ${m.date.slice(0, 10)} on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ` +
      `${m.os}, Node ${m.node}, ${m.redisServer.replace(/ sha=.*/, "")}, ` +
      `ioredis ${m.packages.ioredis}. Every figure: median (min–max) of interleaved ` +
      `repetitions (store: ${c.store.reps}, HTTP: ${c.http.reps}, redis-benchmark: ${c.ceiling.reps}); ` +
      `the run took ${Math.round(r.seconds)} s.`,
  );
  for (const mode of MODES) {
    const rows = r.store.filter((row) => row.mode === mode.mode);
    const inFlight = rows[0]?.inFlight ?? 1;
    const title =
      mode.mode === "sequential"
        ? "one call at a time (latency-bound)"
        : `${inFlight} calls ${mode.label}${mode.mode === "autopipelined" ? " (ours only)" : ""}`;
    out.push(`\n#### Store, ${c.store.sessions} sessions, ${title}: operations/s\n`);
    if (mode.mode === "sequential") out.push(storeNote(c.store.passes));
    out.push(
      table(
        ["operation", "redis-sessions 4.0.0", "express-redis-sessions", "ours / v4"],
        rows.map((row) => [
          row.op === "killall" ? "killall (sessions/s)" : row.op,
          range(row.v4, int),
          range(row.ours, int),
          range(row.ratio, times),
        ]),
        ["l", "r", "r", "r"],
      ),
    );
  }
  out.push(
    `\n#### The cache: get one at a time, ${c.store.sessions} sessions, from Redis and from memory (\`cachetime\`)\n`,
  );
  out.push(
    table(
      ["get", "operations/s", "× uncached"],
      [
        ["from Redis", range(r.cache.uncached, int), "1.00×"],
        ["from the cache", range(r.cache.cached, int), range(r.cache.ratio, times)],
      ],
      ["l", "r", "r"],
    ),
  );
  out.push(
    `\n#### Redis commands and round trips per call (MONITOR; killall over ${c.store.traceCalls} sessions)\n`,
  );
  out.push(
    table(
      [
        "operation",
        "v4 commands",
        "v4 round trips",
        "ours commands (sent + in script)",
        "ours round trips",
      ],
      r.commands.map((row) => [
        row.op,
        count(row.v4.total),
        count(row.v4.roundTrips),
        `${count(row.ours.total)} (${count(row.ours.sent)} + ${count(row.ours.inScripts)})`,
        count(row.ours.roundTrips),
      ]),
      ["l", "r", "r", "r", "r"],
    ),
  );
  out.push(
    `\n#### HTTP: GET / reading the session (autocannon, ${c.http.connections} connections, ` +
      `${c.http.seconds} s runs, ${c.http.sessions} sessions)\n`,
  );
  out.push(
    table(
      [
        "server",
        "requests/s",
        "vs bare Express",
        "server CPU µs/req",
        "Redis CPU µs/req",
        "p50 ms",
        "p99 ms",
      ],
      r.http.map((row) => [
        row.label,
        range(row.rps, int),
        range(row.vsExpress, times),
        num(row.serverCpu.median, 0),
        num(row.redisCpu.median, 1),
        wholeMs(row.p50.median),
        wholeMs(row.p99.median),
      ]),
      ["l", "r", "r", "r", "r", "r", "r"],
    ),
  );
  out.push(
    `\n#### The ceiling: Redis alone (redis-benchmark, ${c.ceiling.clients} clients, ` +
      `${int(c.ceiling.requests)} requests)\n`,
  );
  out.push(
    table(
      ["command", "requests/s", "p50 ms"],
      r.ceiling.map((row) => [row.label, range(row.rps, int), ms(row.p50.median)]),
      ["l", "r", "r"],
    ),
  );
  out.push("\n#### Targets (median ratios of this run)\n");
  out.push(
    table(
      ["target", "goal", "measured", "met"],
      r.targets.map((t) => [
        t.name,
        `≥ ${times(t.goal)}`,
        // Three decimals, so that a median just under the goal never reads as reaching it.
        range(t.value, (n) => `${num(n, 3)}×`),
        t.met ? "yes" : "**no**",
      ]),
      ["l", "r", "r", "l"],
    ),
  );
  return `${out.join("\n")}\n`;
}
