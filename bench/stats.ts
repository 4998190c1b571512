/** Median with the range of the samples it was taken from. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

/** The median, min and max of a non-empty list of samples. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error("summarize: no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: [...samples] };
}

/**
 * Per-repetition ratios a[i] / b[i], summarized. Repetitions are interleaved, so pairing the
 * samples of one repetition cancels most of the drift of a noisy machine.
 */
export function ratio(a: readonly number[], b: readonly number[]): Summary {
  if (a.length !== b.length) throw new Error("ratio: sample counts differ");
  return summarize(a.map((x, i) => x / b[i]!));
}

/** Runs `fn(i)` for i in 0..n-1 with at most `inFlight` calls pending at once. */
export async function pool(
  n: number,
  inFlight: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
}

/** Seconds elapsed while `fn` runs. */
export async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}
