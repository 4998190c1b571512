import { BULK_OPS, QUICK_OPS, type ScaleOp } from "./scale-ops.js";
import type { ScaleResults } from "./scale-results.js";
import { SCALE_KINDS, SCALE_LABELS, type ScaleKind } from "./scale-subjects.js";
import type { Summary } from "./stats.js";

/*
 * A dependency-free SVG of cost against size (log scale on x): bytes per session, and the
 * slowest Redis command of each operation (log scale on y), for redis-sessions 4.0.0 and ours.
 */

const WIDTH = 980;
const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";
const COLORS: Record<ScaleKind, string> = { v4: "#8c8c8c", compat: "#4e79a7", cluster: "#f28e2b" };
const BOUND_MICROS = 5000;

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const sizeName = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
const micros = (v: number) => (v >= 1e6 ? `${v / 1e6} s` : v >= 1e3 ? `${v / 1e3} ms` : `${v} µs`);

interface Frame {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Point {
  size: number;
  value: Summary;
  failed: boolean;
  /** Nothing reached the SLOWLOG threshold: drawn hollow, at the threshold. */
  below?: boolean;
}

/** A log-x plot of one quantity per store, with min–max whiskers; `logY` for a log y axis. */
function plot(
  f: Frame,
  title: string,
  sizes: number[],
  series: Map<ScaleKind, Point[]>,
  y: { min: number; max: number; log: boolean; ticks: number[]; fmt: (v: number) => string },
  bound?: number,
): string {
  const parts: string[] = [];
  const lx = (s: number) => Math.log10(s);
  const [x0, x1] = [lx(sizes[0]!), lx(sizes.at(-1)!)];
  const px = (s: number) =>
    x1 === x0 ? f.x + f.w / 2 : f.x + 14 + ((lx(s) - x0) / (x1 - x0)) * (f.w - 28);
  const ty = (v: number) => (y.log ? Math.log10(Math.max(v, y.min)) : v);
  const py = (v: number) => f.y + f.h - ((ty(v) - ty(y.min)) / (ty(y.max) - ty(y.min) || 1)) * f.h;
  parts.push(
    `<text x="${f.x}" y="${f.y - 8}" font-size="12" font-weight="600" fill="#222">${esc(title)}</text>`,
    `<rect x="${f.x}" y="${f.y}" width="${f.w}" height="${f.h}" fill="none" stroke="#ccc"/>`,
  );
  for (const t of y.ticks) {
    const yy = py(t).toFixed(1);
    parts.push(
      `<line x1="${f.x}" x2="${f.x + f.w}" y1="${yy}" y2="${yy}" stroke="#eee"/>`,
      `<text x="${f.x - 4}" y="${Number(yy) + 3}" font-size="9" fill="#666" text-anchor="end">${esc(y.fmt(t))}</text>`,
    );
  }
  for (const s of sizes) {
    parts.push(
      `<text x="${px(s).toFixed(1)}" y="${f.y + f.h + 12}" font-size="9" fill="#666" text-anchor="middle">${sizeName(s)}</text>`,
    );
  }
  if (bound !== undefined && bound <= y.max) {
    const yy = py(bound).toFixed(1);
    parts.push(
      `<line x1="${f.x}" x2="${f.x + f.w}" y1="${yy}" y2="${yy}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
    );
  }
  // v4 last and dashed: where ours lies on it (the compat layout's memory), both show.
  const order = [...series].sort(([a], [b]) => Number(a === "v4") - Number(b === "v4"));
  for (const [kind, points] of order) {
    const color = COLORS[kind];
    const path = points.map(
      (p, i) => `${i ? "L" : "M"}${px(p.size).toFixed(1)},${py(p.value.median).toFixed(1)}`,
    );
    const dash = kind === "v4" ? ' stroke-dasharray="6 4"' : "";
    if (points.length > 1) {
      parts.push(
        `<path d="${path.join("")}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`,
      );
    }
    for (const p of points) {
      const cx = px(p.size).toFixed(1);
      parts.push(
        `<line x1="${cx}" x2="${cx}" y1="${py(p.value.min).toFixed(1)}" y2="${py(p.value.max).toFixed(1)}" stroke="${color}"/>`,
        p.failed
          ? `<text x="${cx}" y="${(py(p.value.median) + 4).toFixed(1)}" font-size="13" font-weight="700" fill="${color}" text-anchor="middle">×</text>`
          : `<circle cx="${cx}" cy="${py(p.value.median).toFixed(1)}" r="3" ${p.below ? `fill="#fff" stroke="${color}" stroke-width="1.5"` : `fill="${color}"`}/>`,
      );
    }
  }
  return parts.join("\n");
}

function decades(min: number, max: number): { min: number; max: number; ticks: number[] } {
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, min)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(max, lo * 10)));
  const ticks: number[] = [];
  for (let t = lo; t <= hi; t *= 10) ticks.push(t);
  return { min: lo, max: hi, ticks };
}

/** Panel titles of the operations over many sessions (the tables have the long ones). */
const SHORT_TITLES: Record<(typeof BULK_OPS)[number], string> = {
  "soid-heavy": "soid of the user with many sessions",
  soapp: "soapp (every session)",
  migrate: "migrate --dry-run (its reads)",
  "killsoid-heavy": "killsoid of the user with many",
  wipe: "the wipe (10 % expired)",
  killall: "killall (the rest)",
};

/** The worst of the quick operations at each size and store: one line for all of them. */
function slowestSeries(r: ScaleResults, ops: readonly ScaleOp[]): Map<ScaleKind, Point[]> {
  const series = new Map<ScaleKind, Point[]>();
  for (const kind of SCALE_KINDS) {
    const points: Point[] = [];
    for (const size of r.config.sizes) {
      const rows = r.ops.filter((o) => o.size === size && o.kind === kind && ops.includes(o.op));
      const logged = rows.filter((o) => o.slowest);
      if (logged.length === 0) continue;
      const worst = logged.reduce((a, o) =>
        o.slowest!.micros.median > a.slowest!.micros.median ? o : a,
      );
      const { micros, logFrom } = worst.slowest!;
      // 0 stands for "nothing reached the threshold": drawn at the threshold.
      const at = (v: number) => (v === 0 ? logFrom : v);
      points.push({
        size,
        value: { ...micros, median: at(micros.median), min: at(micros.min), max: at(micros.max) },
        failed: rows.some((o) => o.errors.length > 0),
        below: micros.median === 0,
      });
    }
    if (points.length > 0) series.set(kind, points);
  }
  return series;
}

/** The chart of a scale run, as an SVG document. */
export function scaleChart(r: ScaleResults): string {
  const sizes = r.config.sizes;
  const parts: string[] = [];
  parts.push(
    `<text x="16" y="26" font-size="15" font-weight="600" fill="#111">Cost against size: express-redis-sessions vs redis-sessions 4.0.0, one app</text>`,
    `<text x="16" y="43" font-size="11" fill="#555">${esc("Sessions on a log scale. Dot: median; bar: min–max of the repetitions; ×: a run failed (e.g. timed out); hollow: below the SLOWLOG threshold; red dashes: 5 ms")}</text>`,
  );
  let lx = 16;
  for (const kind of SCALE_KINDS) {
    parts.push(
      `<rect x="${lx}" y="54" width="12" height="4" fill="${COLORS[kind]}"/>`,
      `<text x="${lx + 16}" y="60" font-size="11" fill="#333">${esc(SCALE_LABELS[kind])}</text>`,
    );
    lx += 16 + SCALE_LABELS[kind].length * 6.2 + 24;
  }

  // Bytes per session.
  const mem = new Map<ScaleKind, Point[]>();
  for (const kind of SCALE_KINDS) {
    mem.set(
      kind,
      r.populate
        .filter((p) => p.kind === kind)
        .map((p) => ({ size: p.size, value: p.bytesPerSession, failed: false })),
    );
  }
  const all = r.populate.flatMap((p) => [p.bytesPerSession.min, p.bytesPerSession.max]);
  const step = 100;
  const lo = Math.max(0, Math.floor((Math.min(...all) * 0.95) / step) * step);
  const hi = Math.ceil((Math.max(...all) * 1.05) / step) * step;
  const ticks = Array.from({ length: Math.round((hi - lo) / step) + 1 }, (_, i) => lo + i * step);
  parts.push(
    plot({ x: 70, y: 96, w: 380, h: 170 }, "Memory: bytes per session (used_memory)", sizes, mem, {
      min: lo,
      max: hi,
      log: false,
      ticks: ticks.length > 8 ? ticks.filter((_, i) => i % 2 === 0) : ticks,
      fmt: String,
    }),
  );

  // The slowest command per operation, on a shared log scale.
  const panels: { title: string; ops: readonly ScaleOp[] }[] = [
    { title: "quick operations (worst of them)", ops: QUICK_OPS },
    ...BULK_OPS.map((op) => ({ title: SHORT_TITLES[op], ops: [op] as const })),
  ];
  const logged = r.ops.flatMap((o) =>
    o.slowest ? [o.slowest.micros.min || o.slowest.logFrom, o.slowest.micros.max] : [],
  );
  const y = decades(Math.max(1, Math.min(...logged)), Math.max(...logged, BOUND_MICROS * 2));
  const yAxis = { ...y, log: true, fmt: micros };
  parts.push(
    plot(
      { x: 550, y: 96, w: 380, h: 170 },
      `Slowest command: ${panels[0]!.title}`,
      sizes,
      slowestSeries(r, panels[0]!.ops),
      yAxis,
      BOUND_MICROS,
    ),
  );
  const rest = panels.slice(1);
  parts.push(
    `<text x="16" y="300" font-size="12" fill="#333">${esc("The slowest single Redis command (a script, or a whole MULTI/EXEC) of each operation over many sessions, log scale:")}</text>`,
  );
  const cols = 3;
  const w = 250;
  const h = 140;
  rest.forEach((panel, i) => {
    const fx = 70 + (i % cols) * (w + 70);
    const fy = 326 + Math.floor(i / cols) * (h + 56);
    parts.push(
      plot(
        { x: fx, y: fy, w, h },
        panel.title,
        sizes,
        slowestSeries(r, panel.ops),
        yAxis,
        BOUND_MICROS,
      ),
    );
  });
  const height = 326 + Math.ceil(rest.length / cols) * (h + 56) + 10;
  const m = r.machine;
  const load = r.loadAverage.all;
  parts.push(
    `<text x="16" y="${height - 4}" font-size="10" fill="#666">${esc(
      `${m.cpu}, ${m.cores} cores (shared; load average ${load ? load.median.toFixed(1) : "?"}) · ${m.redisServer.replace(/ sha=.*/, "")} · Node ${m.node} · ${m.date.slice(0, 10)} · median (min–max) of ${r.config.reps} repetitions`,
    )}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${height + 8}" viewBox="0 0 ${WIDTH} ${height + 8}" ${FONT}>`,
    "<title>express-redis-sessions at scale: bytes per session and the slowest Redis command per operation against the number of sessions, compared with redis-sessions 4.0.0</title>",
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
