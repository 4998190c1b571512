import type { OperationContext } from "./channel.js";
import type { OperationListener } from "./instrument.js";

/** Operations kept for {@link RecentOperations.summary}. */
const KEPT = 2048;

/** Latency and errors of a store's recent operations, as the dashboard shows them. */
export interface RecentSummary {
  /** The span looked at, in seconds (operations older than this are left out). */
  windowSeconds: number;
  /** Operations that settled within the window (at most the last 2048). */
  count: number;
  errors: number;
  /** errors / count; null without operations. */
  errorRate: number | null;
  /** Median duration in milliseconds; null without operations. */
  p50Ms: number | null;
  /** 99th percentile duration in milliseconds; null without operations. */
  p99Ms: number | null;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
  return Math.round((sorted[Math.max(0, i)] ?? 0) * 1000) / 1000;
}

/**
 * The last operations of a store in a ring buffer: their end time, duration and outcome. A
 * summary sorts at most 2048 numbers, on request only; recording is three array writes.
 */
export class RecentOperations implements OperationListener<undefined> {
  private readonly at = new Float64Array(KEPT);
  private readonly took = new Float64Array(KEPT);
  private readonly failed = new Uint8Array(KEPT);
  private next = 0;
  private filled = 0;

  constructor(private readonly now: () => number = performance.now.bind(performance)) {}

  start(): undefined {
    return undefined;
  }

  end(ctx: OperationContext): void {
    const i = this.next;
    this.at[i] = this.now();
    this.took[i] = ctx.duration ?? 0;
    this.failed[i] = ctx.errorCode === undefined ? 0 : 1;
    this.next = (i + 1) % KEPT;
    if (this.filled < KEPT) this.filled++;
  }

  /** Count, error rate and p50/p99 of the operations that ended in the last `seconds`. */
  summary(seconds = 60): RecentSummary {
    const since = this.now() - seconds * 1000;
    const durations: number[] = [];
    let errors = 0;
    for (let n = 0; n < this.filled; n++) {
      if ((this.at[n] ?? 0) < since) continue;
      durations.push(this.took[n] ?? 0);
      errors += this.failed[n] ?? 0;
    }
    durations.sort((a, b) => a - b);
    const count = durations.length;
    return {
      windowSeconds: seconds,
      count,
      errors,
      errorRate: count === 0 ? null : errors / count,
      p50Ms: percentile(durations, 0.5),
      p99Ms: percentile(durations, 0.99),
    };
  }
}
