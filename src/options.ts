import type { ConnectionOptions } from "./connection.js";
import type { Milliseconds, Seconds } from "./types.js";

/** Options of {@link RedisSessions}: redis-sessions 4.0.0's, plus connection and limit options. */
export interface StoreOptions extends ConnectionOptions {
  /**
   * Prefix of every key: `{namespace}:…`.
   * @default "rs"
   */
  namespace?: string | undefined;
  /**
   * Seconds between wipes of expired sessions; `0` disables. Values below 10 count as 10.
   * Only one process wipes at a time (a lease in Redis).
   * @default 600
   */
  wipe?: Seconds | undefined;
  /**
   * Seconds a session may be served from this process' memory; `0` disables the cache.
   * @default 0
   */
  cachetime?: Seconds | undefined;
  /**
   * Most sessions kept in the cache.
   * @default 5000
   */
  cachemax?: number | undefined;
  /**
   * Most bytes of serialized sessions kept in the cache; `0` means no byte bound.
   * @default 0
   */
  cachemaxBytes?: number | undefined;
  /**
   * Largest serialized `d` in bytes, checked before any write (also after a `set` merge).
   * @default 65536
   */
  maxDataBytes?: number | undefined;
  /**
   * Most keys in `d`, checked before any write (also after a `set` merge).
   * @default 256
   */
  maxDataKeys?: number | undefined;
  /**
   * Where "now" comes from, in unix seconds. By default Redis' own `TIME`, so every app server
   * shares one clock; pass `() => Date.now() / 1000` for redis-sessions' behaviour, or a fake
   * clock in tests.
   */
  clock?: (() => Seconds) | undefined;
}

/** Store options with every default applied. */
export interface ResolvedStoreOptions {
  namespace: string;
  wipe: Seconds;
  cachetime: Seconds;
  cachemax: number;
  cachemaxBytes: number;
  maxDataBytes: number;
  maxDataKeys: number;
  timeout: Milliseconds;
  clock: (() => Seconds) | undefined;
}

/** Defaults, in one place. */
export const STORE_DEFAULTS = {
  namespace: "rs",
  wipe: 600,
  cachetime: 0,
  cachemax: 5000,
  cachemaxBytes: 0,
  maxDataBytes: 65536,
  maxDataKeys: 256,
  timeout: 1000,
} as const;

function fail(name: string, expected: string, received: unknown): never {
  let shown: string;
  try {
    shown = typeof received === "string" ? JSON.stringify(received) : String(received);
  } catch {
    shown = typeof received;
  }
  throw new TypeError(
    `express-redis-sessions: option "${name}" must be ${expected} (received ${shown})`,
  );
}

function count(
  opts: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  expected: string,
): number {
  const value = opts[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    fail(name, expected, value);
  }
  return value;
}

/** Applies defaults and checks every option; throws a `TypeError` that names a bad one. */
export function resolveStoreOptions(options: StoreOptions): ResolvedStoreOptions {
  const opts = options as Record<string, unknown>;
  const namespace = options.namespace ?? STORE_DEFAULTS.namespace;
  if (typeof namespace !== "string" || namespace.length > 64 || /[\s{}]/.test(namespace)) {
    fail("namespace", "a string of at most 64 characters without spaces or braces", namespace);
  }
  const wipe = count(opts, "wipe", STORE_DEFAULTS.wipe, 0, "0 or a number of seconds >= 10");
  const clock = options.clock;
  if (clock !== undefined && typeof clock !== "function") fail("clock", "a function", clock);
  if (options.client !== undefined && (typeof options.client !== "object" || !options.client)) {
    fail("client", "an ioredis Redis or Cluster", options.client);
  }
  if (
    options.redis !== undefined &&
    typeof options.redis !== "string" &&
    (typeof options.redis !== "object" || options.redis === null)
  ) {
    fail("redis", "a Redis URL or ioredis options", options.redis);
  }
  return {
    namespace,
    // redis-sessions raises wipe intervals below 10 s to 10 s rather than refusing them.
    wipe: wipe === 0 ? 0 : Math.max(10, wipe),
    cachetime: count(opts, "cachetime", STORE_DEFAULTS.cachetime, 0, "a number of seconds >= 0"),
    cachemax: count(opts, "cachemax", STORE_DEFAULTS.cachemax, 0, "a count >= 0") || 5000,
    cachemaxBytes: count(opts, "cachemaxBytes", STORE_DEFAULTS.cachemaxBytes, 0, "bytes >= 0"),
    maxDataBytes: count(opts, "maxDataBytes", STORE_DEFAULTS.maxDataBytes, 2, "bytes >= 2"),
    maxDataKeys: count(opts, "maxDataKeys", STORE_DEFAULTS.maxDataKeys, 1, "a count >= 1"),
    timeout: count(opts, "timeout", STORE_DEFAULTS.timeout, 1, "milliseconds >= 1"),
    clock,
  };
}
