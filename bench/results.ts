import type { CacheRow } from "./cache-bench.js";
import type { CeilingRow } from "./ceiling.js";
import type { CommandRow } from "./commands.js";
import type { BenchConfig } from "./config.js";
import type { HttpRow } from "./http-bench.js";
import type { Machine } from "./machine.js";
import { ratio, type Summary } from "./stats.js";
import type { Mode, Op, StoreRow } from "./store-bench.js";
import type { Variant } from "./variants.js";

/** One goal of issue 6, checked on the median of per-repetition ratios. */
export interface Target {
  name: string;
  /** The ratio to reach. */
  goal: number;
  value: Summary;
  met: boolean;
}

/** Everything `bench/results.json` holds. */
export interface Results {
  machine: Machine;
  config: Omit<BenchConfig, "outDir">;
  /** Wall-clock seconds of the whole run. */
  seconds: number;
  store: StoreRow[];
  /** `get` from Redis against `get` from the in-process cache. */
  cache: CacheRow;
  commands: CommandRow[];
  ceiling: CeilingRow[];
  http: HttpRow[];
  targets: Target[];
}

function storeRatio(rows: readonly StoreRow[], mode: Mode, op: Op): Summary {
  const row = rows.find((r) => r.mode === mode && r.op === op);
  if (!row) throw new Error(`no store row ${mode}/${op}`);
  return row.ratio;
}

function httpRps(rows: readonly HttpRow[], variant: Variant): number[] {
  const row = rows.find((r) => r.variant === variant);
  if (!row) throw new Error(`no http row ${variant}`);
  return row.rps.samples;
}

/** The targets of issue 6, evaluated on this run. */
export function evaluateTargets(
  store: readonly StoreRow[],
  http: readonly HttpRow[],
  cache: CacheRow,
): Target[] {
  const t = (name: string, goal: number, value: Summary): Target => ({
    name,
    goal,
    value,
    met: value.median >= goal,
  });
  const ours = httpRps(http, "ours");
  return [
    t("get vs v4, sequential", 1.8, storeRatio(store, "sequential", "get")),
    t("get vs v4, in flight", 2.5, storeRatio(store, "concurrent", "get")),
    t("kill vs v4, sequential", 3, storeRatio(store, "sequential", "kill")),
    t("kill vs v4, in flight", 3, storeRatio(store, "concurrent", "kill")),
    t("set vs v4, sequential", 1.5, storeRatio(store, "sequential", "set")),
    t("set vs v4, in flight", 1.5, storeRatio(store, "concurrent", "set")),
    t("create vs v4, sequential", 1, storeRatio(store, "sequential", "create")),
    t("create vs v4, in flight", 1, storeRatio(store, "concurrent", "create")),
    t("HTTP uncached vs bare Express", 0.7, ratio(ours, httpRps(http, "express"))),
    t(
      "HTTP uncached vs express-session + connect-redis",
      1.4,
      ratio(ours, httpRps(http, "express-session")),
    ),
    t(
      "HTTP cached vs bare Express",
      0.9,
      ratio(httpRps(http, "ours-cached"), httpRps(http, "express")),
    ),
    t("cached get vs uncached get, sequential", 100, cache.ratio),
  ];
}
