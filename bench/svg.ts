import type { Results } from "./results.js";
import type { Summary } from "./stats.js";
import { MODES, OPS } from "./store-bench.js";

/*
 * A dependency-free SVG chart of a run: horizontal bars at the median with a min–max whisker.
 * Three panels: store speed-ups over redis-sessions 4.0.0, HTTP requests/s, redis-benchmark.
 */

const WIDTH = 980;
const LABEL = 330;
const BARS = 530;
const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";
const MODE_COLORS = ["#4e79a7", "#f28e2b", "#59a14f"];
const OURS = "#4e79a7";
const OTHER = "#9c9c9c";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const int = (n: number) => Math.round(n).toLocaleString("en-US");

/** A scale from values to x, ending on a round tick; `ticks` are its gridlines. */
function scale(max: number): { x: (v: number) => number; max: number; ticks: number[] } {
  const rough = max / 5;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= rough) ?? 10 * pow;
  const top = Math.ceil(max / step) * step;
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
  return { x: (v) => LABEL + (Math.max(0, v) / top) * BARS, max: top, ticks };
}

function bar(
  y: number,
  h: number,
  s: Summary,
  x: (v: number) => number,
  color: string,
  text: string,
) {
  const x0 = x(0);
  const cy = y + h / 2;
  const edge = LABEL + BARS + 8;
  const lo = x(s.min);
  // A whisker past the scale is cut at its edge (an open end shows it goes on).
  const hi = Math.min(x(s.max), edge);
  const cut = x(s.max) > edge;
  return [
    `<rect x="${x0}" y="${y}" width="${Math.max(1, x(s.median) - x0).toFixed(1)}" height="${h}" fill="${color}"/>`,
    `<line x1="${lo.toFixed(1)}" x2="${hi.toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#333" stroke-width="1"${cut ? ' stroke-dasharray="3 2"' : ""}/>`,
    `<line x1="${lo.toFixed(1)}" x2="${lo.toFixed(1)}" y1="${cy - 3}" y2="${cy + 3}" stroke="#333"/>`,
    cut
      ? ""
      : `<line x1="${hi.toFixed(1)}" x2="${hi.toFixed(1)}" y1="${cy - 3}" y2="${cy + 3}" stroke="#333"/>`,
    `<text x="${(hi + 6).toFixed(1)}" y="${cy + 4}" font-size="11" fill="#222">${esc(text)}</text>`,
  ].join("");
}

function axis(
  y0: number,
  y1: number,
  x: (v: number) => number,
  ticks: number[],
  fmt: (v: number) => string,
) {
  return ticks
    .map((t) => {
      const tx = x(t).toFixed(1);
      return (
        `<line x1="${tx}" x2="${tx}" y1="${y0}" y2="${y1}" stroke="#e3e3e3"/>` +
        `<text x="${tx}" y="${y1 + 14}" font-size="10" fill="#666" text-anchor="middle">${esc(fmt(t))}</text>`
      );
    })
    .join("");
}

/** The chart of a run, as an SVG document. */
export function chart(r: Results): string {
  const parts: string[] = [];
  let y = 30;
  const title = (text: string, sub: string) => {
    parts.push(
      `<text x="16" y="${y}" font-size="15" font-weight="600" fill="#111">${esc(text)}</text>`,
    );
    parts.push(`<text x="16" y="${y + 17}" font-size="11" fill="#555">${esc(sub)}</text>`);
    y += 34;
  };

  // Panel 1: store speed-ups.
  const inFlight = r.config.store.inFlight;
  title(
    `Store: express-redis-sessions vs redis-sessions 4.0.0 (${r.config.store.sessions} sessions)`,
    "Speed-up = our operations/s ÷ v4's on the same Redis (dashed line: 1×, as fast as v4); bar = median, whisker = min–max",
  );
  const legend = [
    "one call at a time",
    `${inFlight} in flight`,
    `${inFlight} in flight, ours auto-pipelined`,
  ];
  legend.forEach((text, i) => {
    const lx = LABEL + i * 190;
    parts.push(`<rect x="${lx}" y="${y - 9}" width="10" height="10" fill="${MODE_COLORS[i]}"/>`);
    parts.push(`<text x="${lx + 14}" y="${y}" font-size="11" fill="#333">${esc(text)}</text>`);
  });
  y += 18;
  // The scale follows the medians; an outlying max would squash every bar.
  const medians = Math.max(...r.store.map((row) => row.ratio.median), 1);
  const ratioMax = Math.min(Math.max(...r.store.map((row) => row.ratio.max)), medians * 1.6);
  const rs = scale(Math.max(ratioMax, medians * 1.15));
  const top1 = y;
  const barH = 10;
  const groupH = MODES.length * (barH + 2) + 10;
  const rows1: string[] = [];
  OPS.forEach((op, i) => {
    const gy = y + i * groupH;
    const name = op === "killall" ? `killall (${r.config.store.sessions} sessions)` : op;
    rows1.push(
      `<text x="${LABEL - 10}" y="${gy + (groupH - 10) / 2 + 4}" font-size="12" text-anchor="end" fill="#222">${esc(name)}</text>`,
    );
    MODES.forEach((mode, m) => {
      const row = r.store.find((s) => s.mode === mode.mode && s.op === op)!;
      rows1.push(
        bar(
          gy + m * (barH + 2),
          barH,
          row.ratio,
          rs.x,
          MODE_COLORS[m]!,
          `${row.ratio.median.toFixed(2)}×`,
        ),
      );
    });
  });
  y += OPS.length * groupH;
  parts.push(axis(top1 - 4, y, rs.x, rs.ticks, (v) => `${Number(v.toFixed(2))}×`));
  parts.push(
    `<line x1="${rs.x(1)}" x2="${rs.x(1)}" y1="${top1 - 4}" y2="${y}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
  );
  parts.push(...rows1);
  y += 40;

  // Panel 2: HTTP.
  const c = r.config.http;
  title(
    "HTTP: requests/s of GET / reading the session",
    `autocannon, ${c.connections} connections, ${c.seconds} s runs, ${c.sessions} sessions; each server in its own process; label: median (× bare Express)`,
  );
  const hs = scale(Math.max(...r.http.map((h) => h.rps.max)) * 1.2);
  const top2 = y;
  const rowH = 24;
  const rows2: string[] = [];
  r.http.forEach((h, i) => {
    const ry = y + i * rowH;
    const ours = h.variant === "ours" || h.variant === "ours-cached";
    rows2.push(
      `<text x="${LABEL - 10}" y="${ry + 12}" font-size="12" text-anchor="end" fill="#222"${ours ? ' font-weight="600"' : ""}>${esc(h.label)}</text>`,
    );
    rows2.push(
      bar(
        ry + 2,
        14,
        h.rps,
        hs.x,
        ours ? OURS : OTHER,
        `${int(h.rps.median)} (${h.vsExpress.median.toFixed(2)}×)`,
      ),
    );
  });
  y += r.http.length * rowH;
  parts.push(axis(top2 - 4, y, hs.x, hs.ticks, int));
  parts.push(...rows2);
  y += 40;

  // Panel 3: the ceiling.
  title(
    "Redis alone: redis-benchmark requests/s",
    `${r.config.ceiling.clients} clients, no Node.js in the way: the ceiling for any client`,
  );
  const cs = scale(Math.max(...r.ceiling.map((h) => h.rps.max)) * 1.2);
  const top3 = y;
  const rows3: string[] = [];
  r.ceiling.forEach((h, i) => {
    const ry = y + i * rowH;
    rows3.push(
      `<text x="${LABEL - 10}" y="${ry + 12}" font-size="12" text-anchor="end" fill="#222">${esc(h.label)}</text>`,
    );
    rows3.push(bar(ry + 2, 14, h.rps, cs.x, OTHER, int(h.rps.median)));
  });
  y += r.ceiling.length * rowH;
  parts.push(axis(top3 - 4, y, cs.x, cs.ticks, int));
  parts.push(...rows3);
  y += 36;

  const m = r.machine;
  parts.push(
    `<text x="16" y="${y}" font-size="10" fill="#666">${esc(
      `${m.cpu}, ${m.cores} cores · Node ${m.node} · ${m.redisServer.replace(/ sha=.*/, "")} · ioredis ${m.packages.ioredis} · ${m.date.slice(0, 10)} · median (min–max) of ${r.config.store.reps} (store), ${r.config.http.reps} (HTTP) and ${r.config.ceiling.reps} (redis-benchmark) interleaved repetitions`,
    )}</text>`,
  );
  y += 14;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" ${FONT}>`,
    "<title>express-redis-sessions benchmarks: store operations against redis-sessions 4.0.0, HTTP throughput against bare Express and express-session</title>",
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
