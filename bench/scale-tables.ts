import { OP_LABELS } from "./scale-ops.js";
import type { ScaleResults } from "./scale-results.js";
import { SCALE_KINDS, SCALE_LABELS, type ScaleKind } from "./scale-subjects.js";
import type { Summary } from "./stats.js";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const fixed = (digits: number) => (n: number) => n.toFixed(digits);
const range = (s: Summary, f: (n: number) => string) =>
  s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
const secs = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
/** A duration given in µs, in the unit that suits it. */
const duration = (us: number) =>
  us < 1000
    ? `${us.toFixed(1)} µs`
    : us < 1e6
      ? `${(us / 1000).toFixed(1)} ms`
      : `${secs(us / 1e6)} s`;
const sizeName = (n: number) =>
  n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);

/** The bound on one command: anything over it is shown in bold. */
const BOUND_MICROS = 5000;

function table(head: string[], rows: string[][], align: ("l" | "r")[]): string {
  const rule = align.map((a) => (a === "r" ? "---:" : "---"));
  return [head, rule, ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

const kindHeads = () => SCALE_KINDS.map((k) => SCALE_LABELS[k]);

/** Failures of a row, shortened to their codes: `failed 3/3: ERS_STORE_TIMEOUT`. */
function failures(errors: string[], reps: number): string {
  const codes = [...new Set(errors.map((e) => e.replace(/^rep \d+: /, "").split(":")[0]))];
  return `failed ${errors.length}/${reps}: ${codes.join(", ")}`;
}

/** The run's figures as Markdown (printed by `npm run bench -- --scale`, saved with --save). */
export function scaleMarkdown(r: ScaleResults): string {
  const { machine: m, config: c } = r;
  const out: string[] = [];
  const load = r.loadAverage.all!;
  out.push(
    `Measured ${m.date.slice(0, 10)} on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ` +
      `${m.os}, Node ${m.node}, ${m.redisServer.replace(/ sha=.*/, "")}, ioredis ` +
      `${m.packages.ioredis}, redis-sessions ${m.packages["redis-sessions"]}. One app; sizes ` +
      `${c.sizes.map(int).join(", ")} sessions (user \`u<i>\`, one session each, the same ids, ` +
      `ips, d and ttls for every store; every tenth lives 1 h, the others a day), plus two ` +
      `users with ${Math.round(c.heavyShare * 100)} % as many sessions each. Every figure: ` +
      `median (min–max) of ${c.reps} interleaved ` +
      `repetitions. The machine is shared: its 1-minute load average was ` +
      `${range(load, fixed(2))} during the run, which took ${Math.round(r.seconds / 60)} min.`,
  );
  const notApplied = r.http.filter((h) => h.askedTouchAfter && h.touchAfter === null);
  if (notApplied.length > 0) {
    out.push(
      "\n**touchAfter was not applied**: this build of the store does not know the option, so " +
        "the touchAfter rows measure the default behaviour.",
    );
  }

  out.push(
    "\n#### Memory: bytes per session (`used_memory` after filling minus before, ÷ sessions)\n",
  );
  const rowsMem = c.sizes.map((size) => {
    const row = (k: ScaleKind) => r.populate.find((p) => p.size === size && p.kind === k)!;
    const v4 = row("v4").bytesPerSession.median;
    return [
      int(size),
      ...SCALE_KINDS.map((k) => range(row(k).bytesPerSession, int)),
      ...(["compat", "cluster"] as const).map(
        (k) => `${(row(k).bytesPerSession.median / v4).toFixed(3)}×`,
      ),
    ];
  });
  out.push(
    table(["sessions", ...kindHeads(), "compat ÷ v4", "cluster ÷ v4"], rowsMem, [
      "r",
      "r",
      "r",
      "r",
      "r",
      "r",
    ]),
  );
  out.push(
    `\nSizes up to 200,000 are filled ${c.reps} times per store; larger ones once (a fill of a ` +
      "million sessions takes minutes). The bytes are those of the data set only: Redis' " +
      "allocator rounds every allocation up, and that is counted, but not fragmentation.",
  );

  out.push(
    `\n#### Filling: sessions created per second (${c.populateInFlight} creates pending), and seconds\n`,
  );
  out.push(
    table(
      ["sessions", ...kindHeads()],
      c.sizes.map((size) => [
        int(size),
        ...SCALE_KINDS.map((k) => {
          const p = r.populate.find((row) => row.size === size && row.kind === k)!;
          return `${range(p.perSecond, int)} /s, ${range(p.seconds, secs)} s`;
        }),
      ]),
      ["r", "r", "r", "r"],
    ),
  );

  for (const size of c.sizes) {
    const rows = r.ops.filter((o) => o.size === size);
    const heavy = r.populate.find((p) => p.size === size)?.heavy ?? 0;
    const ops = [...new Set(rows.map((o) => o.op))];
    const cell = (op: string, k: ScaleKind, f: (o: (typeof rows)[number]) => string) => {
      const o = rows.find((row) => row.op === op && row.kind === k);
      return o ? f(o) : "n/a";
    };
    out.push(
      `\n#### ${sizeName(size)} sessions: the slowest Redis command per operation (SLOWLOG, µs)\n`,
    );
    out.push(
      `Two users have ${int(heavy)} sessions each: soid and killsoid work on one, the other ` +
        `stays for the wipe and killall. Quick operations: ${int(c.slowlogCalls)} ` +
        `calls, one at a time, logged from 0 µs; the others from ${c.bulkSlowlogMicros} µs ("<" when nothing ` +
        `reached it). EXEC: a MULTI/EXEC transaction, which SLOWLOG leaves out: its time is ` +
        `from INFO commandstats when there was one, and "≤" the upper bound of its bucket of ` +
        `Redis' latency histogram when there were several. p99.9: of that command's calls ` +
        "(INFO latencystats); the maximum also holds any wait of redis-server for a CPU, which " +
        `the 99.9th percentile mostly leaves out. Bold: a maximum over ${BOUND_MICROS / 1000} ms.\n`,
    );
    out.push(
      table(
        ["operation", ...kindHeads()],
        ops.map((op) => [
          OP_LABELS[op],
          ...SCALE_KINDS.map((k) =>
            cell(op, k, (o) => {
              const s = o.slowest;
              // 0: nothing reached the threshold in that repetition.
              const us = (n: number) => (s && n === 0 && s.logFrom > 0 ? `< ${s.logFrom}` : int(n));
              // Redis' latency histograms end at 1 s.
              const p999 = !s?.p999
                ? ""
                : s.p999.median >= 1e6
                  ? ", p99.9 > 1 s"
                  : `, p99.9 ${int(s.p999.median)}`;
              const text = s
                ? `${s.bound ? "≤ " : ""}${range(s.micros, us)} ${s.command}${p999}${s.overflowed ? " (log overflowed)" : ""}`
                : `< ${c.bulkSlowlogMicros}`;
              const bold = s && s.micros.max > BOUND_MICROS ? `**${text}**` : text;
              return o.errors.length > 0 ? `${bold}; ${failures(o.errors, c.reps)}` : bold;
            }),
          ),
        ]),
        ["l", "r", "r", "r"],
      ),
    );
    out.push(
      `\n#### ${sizeName(size)} sessions: operations per second (quick operations: calls/s, ` +
        `${c.inFlight} pending; the others: sessions/s and seconds per call), and redis-server ` +
        "CPU per call\n",
    );
    out.push(
      table(
        ["operation", ...kindHeads()],
        ops.map((op) => [
          OP_LABELS[op],
          ...SCALE_KINDS.map((k) =>
            cell(op, k, (o) => {
              if (!o.perSecond) return failures(o.errors, c.reps);
              const rate = range(o.perSecond, int);
              const us = o.redisCpuMicros?.median;
              const cpu = us === undefined ? "" : `; CPU ${duration(us)}`;
              if (!o.seconds) return `${rate}${cpu}`;
              return `${rate} /s, ${range(o.seconds, (n) => duration(n * 1e6))}${cpu}`;
            }),
          ),
        ]),
        ["l", "r", "r", "r"],
      ),
    );
  }

  const h = c.http;
  out.push(
    `\n#### HTTP: what one request reading the session costs Redis (GET /, autocannon, ` +
      `${h.connections} connections, ${h.reps} runs of ${h.seconds} s, ${int(h.sessions)} users)\n`,
  );
  out.push(
    table(
      [
        "server",
        "touchAfter applied",
        "requests/s",
        "reads per session per s",
        "Redis CPU µs/request",
        "Redis commands/request",
      ],
      r.http.map((row) => [
        row.label,
        row.touchAfter === null ? (row.askedTouchAfter ? "**no**" : "–") : `${row.touchAfter} s`,
        range(row.rps, int),
        (row.rps.median / h.sessions).toFixed(2),
        range(row.redisCpu, fixed(1)),
        range(row.redisCommands, fixed(2)),
      ]),
      ["l", "l", "r", "r", "r", "r"],
    ),
  );

  out.push("\n#### The machine's 1-minute load average, per phase (sampled every 5 s)\n");
  out.push(
    table(
      ["phase", "median (min–max)"],
      Object.entries(r.loadAverage).map(([phase, s]) => [phase, range(s, fixed(2))]),
      ["l", "r"],
    ),
  );
  return `${out.join("\n")}\n`;
}
