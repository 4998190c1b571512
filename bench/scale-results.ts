import type { Machine } from "./machine.js";
import type { PopulateRow, ScaleOpRow } from "./scale-bench.js";
import type { ScaleConfig } from "./scale-config.js";
import type { ScaleHttpRow } from "./scale-http.js";
import type { Summary } from "./stats.js";

/** Everything `bench/scale-results.json` holds. */
export interface ScaleResults {
  mode: "scale";
  machine: Machine;
  config: Omit<ScaleConfig, "outDir">;
  /** Wall-clock seconds of the whole run. */
  seconds: number;
  /** The machine's 1-minute load average, sampled every 5 s: over the run and per phase. */
  loadAverage: Record<string, Summary>;
  populate: PopulateRow[];
  ops: ScaleOpRow[];
  http: ScaleHttpRow[];
}

/** The figure files of a scale run (next to results.* of the ordinary run). */
export const SCALE_FILES = {
  json: "scale-results.json",
  md: "scale-results.md",
  svg: "scale-results.svg",
} as const;
