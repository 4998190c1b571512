/*
 * Waiting for a condition with a deadline, instead of sleeping: a test goes on as soon as the
 * condition holds and fails with a message when it never does.
 */

/** How long and how often to poll. */
export interface WaitOptions {
  /** Give up after this many ms. @default 5000 */
  ms?: number;
  /** Poll every this many ms. @default 10 */
  every?: number;
  /** What is awaited, for the error message. */
  what?: string;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until it returns something truthy and resolves to that; throws after `ms`. */
export async function until<T>(
  cond: () => T | Promise<T>,
  { ms = 5000, every = 10, what = "condition" }: WaitOptions = {},
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await pause(every);
  }
}

/**
 * Calls `read` until `ok` accepts its value and resolves to that value; throws after `ms`, with
 * the last value read in the message.
 */
export async function readUntil<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  { ms = 5000, every = 10, what = "condition" }: WaitOptions = {},
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${show(value)}`);
    }
    await pause(every);
  }
}

/**
 * Calls `fn` until it resolves and resolves to its value and the ms that took; after `ms`
 * rejects with `fn`'s last error.
 */
export async function retry<T>(
  fn: () => Promise<T>,
  { ms = 5000, every = 10 }: WaitOptions = {},
): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    try {
      return { value: await fn(), ms: performance.now() - started };
    } catch (err) {
      if (performance.now() - started > ms) throw err;
    }
    await pause(every);
  }
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Spaces out the steps of a load generator (requests a few ms apart). Never use it to wait for
 * something to happen: that is what {@link until} is for.
 */
export function pace(ms: number): Promise<void> {
  return pause(ms);
}
