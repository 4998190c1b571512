import { Redis } from "ioredis";
import { isStoreError } from "../../../src/index.js";
import { type RedisServer, startRedisServer } from "../../helpers/redis-server.js";
import { pace } from "../../helpers/wait.js";

/*
 * The fault toolbox of the fault-injection suites: a private redis-server per scenario (start,
 * SIGKILL, SIGSTOP/SIGCONT via test/helpers/redis-server.ts), Redis' own fault commands, and the
 * bookkeeping every scenario needs (latency samples, first success after recovery, unhandled
 * errors). The TCP proxy that delays, holds or cuts traffic is test/helpers/fault-proxy.ts.
 * Nothing here fakes Redis.
 */

export { type RedisServer, startRedisServer };

/** The store timeout (ms) of the fault scenarios. */
export const TIMEOUT = 300;
/** Scheduling slack on a busy 2-core machine; ioredis' own timer fires at TIMEOUT. */
export const MARGIN = 150;
/** The bound (ms) every call of a scenario must settle within. */
export const LIMIT = TIMEOUT + MARGIN;

/** A plain control client for fault commands (short timeouts, no retries, no resend). */
export function adminClient(url: string): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => 50,
  });
  client.on("error", () => {});
  return client;
}

/** `CLIENT PAUSE ms WRITE|ALL`: Redis holds (WRITE: writing) commands for `ms`. */
export async function clientPause(
  admin: Redis,
  ms: number,
  mode: "WRITE" | "ALL" = "WRITE",
): Promise<void> {
  await admin.call("CLIENT", "PAUSE", String(ms), mode);
}

/** `CLIENT KILL TYPE normal|pubsub`: drops every connection of that type; resolves to the count. */
export async function clientKillType(admin: Redis, type: "normal" | "pubsub"): Promise<number> {
  return Number(await admin.call("CLIENT", "KILL", "TYPE", type, "SKIPME", "yes"));
}

/**
 * `DEBUG SLEEP s` on a connection of its own (the command blocks the whole server, and the
 * connection that sends it until it returns). Resolves when Redis is awake again.
 */
export async function debugSleep(url: string, seconds: number): Promise<void> {
  const c = new Redis(url, { maxRetriesPerRequest: 0, commandTimeout: seconds * 1000 + 5000 });
  c.on("error", () => {});
  try {
    await c.call("DEBUG", "SLEEP", String(seconds));
  } finally {
    c.disconnect();
  }
}

/** `CONFIG SET maxmemory` with `noeviction`: writes fail with OOM once memory is over `bytes`. */
export async function setMaxmemory(admin: Redis, bytes: number): Promise<void> {
  await admin.call("CONFIG", "SET", "maxmemory-policy", "noeviction");
  await admin.call("CONFIG", "SET", "maxmemory", String(bytes));
}

/** One timed call. */
export interface Sample {
  /** ms since the epoch when the call was made and when it settled. */
  start: number;
  end: number;
  ms: number;
  ok: boolean;
  /** The error's `code` (or message) when it failed. */
  code?: string;
  error?: unknown;
  value?: unknown;
}

/** Runs `fn` and records when it started and settled and how. Never throws. */
export async function timed<T>(fn: () => Promise<T>): Promise<Sample & { value?: T }> {
  const start = Date.now();
  try {
    const value = await fn();
    const end = Date.now();
    return { start, end, ms: end - start, ok: true, value };
  } catch (error) {
    const end = Date.now();
    const code =
      (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
    return { start, end, ms: end - start, ok: false, code, error };
  }
}

/**
 * Steady load: `workers` loops each call `op` back to back, pausing `gapMs` after each call,
 * until `stop()`. Every settled call is kept as a {@link Sample}.
 */
export class Load {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(op: (worker: number, i: number) => Promise<unknown>, workers = 2, gapMs = 10) {
    this.loops = Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; this.running; i++) {
        this.samples.push(await timed(() => op(w, i)));
        if (gapMs) await pace(gapMs);
      }
    });
  }

  /** Stops the loops and waits for the calls in flight. */
  async stop(): Promise<Sample[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.samples;
  }
}

/** Summary of samples: worst latency, error codes, first success after `after` (ms epoch). */
export function summarize(samples: readonly Sample[], after?: number) {
  const codes: Record<string, number> = {};
  let maxMs = 0;
  let firstOkAfter: number | undefined;
  for (const s of samples) {
    maxMs = Math.max(maxMs, s.ms);
    if (!s.ok) codes[s.code ?? "?"] = (codes[s.code ?? "?"] ?? 0) + 1;
    if (after !== undefined && s.ok && s.start >= after) {
      if (firstOkAfter === undefined || s.end < firstOkAfter) firstOkAfter = s.end;
    }
  }
  return {
    calls: samples.length,
    ok: samples.filter((s) => s.ok).length,
    maxMs,
    codes,
    /** ms from `after` until the first call started after it succeeded. */
    recoveryMs:
      firstOkAfter === undefined || after === undefined ? undefined : firstOkAfter - after,
  };
}

/**
 * Counts unhandled rejections and uncaught exceptions while a scenario runs (vitest would fail
 * the run on them too, but only at the end and without saying which scenario).
 */
export function watchUnhandled(): { readonly errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on("unhandledRejection", onError);
  process.on("uncaughtException", onError);
  return {
    errors,
    stop() {
      process.off("unhandledRejection", onError);
      process.off("uncaughtException", onError);
    },
  };
}

/** Prints one measured bound in a greppable form: `[bound] scenario: key=value …`. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  console.log(`[bound] ${scenario}: ${parts.join(" ")}`);
}

/**
 * The pass criteria every scenario shares, as a list of violations (empty when all hold): each
 * call settled within `limitMs`, and each failure is a typed store error (`storeUnavailable`
 * with an `ERS_STORE_*` code), never a raw ioredis error or a crash.
 */
export function badSamples(samples: readonly Sample[], limitMs: number): string[] {
  const out: string[] = [];
  for (const s of samples) {
    if (s.ms > limitMs) out.push(`a call took ${s.ms} ms (> ${limitMs})`);
    if (!s.ok && !isStoreError(s.error)) out.push(`untyped failure: ${String(s.error)}`);
  }
  return out;
}
