import { DEFAULT_BUCKETS, MAX_BUCKETS } from "../layouts/cluster/keys.js";
import { bool, checkKeys, fail, integerIn, numberAtLeast, shown } from "../option-checks.js";
import { isCluster } from "../redis-client.js";
import { checkRedisUrl } from "../redis-url.js";
import type { Milliseconds, Seconds } from "../types.js";
import {
  ACCOUNT_OPTIONS,
  type AccountStoreOptions,
  type ResolvedAccountOptions,
  resolveAccountOptions,
} from "./account-options.js";
import type { ConnectionOptions } from "./connection.js";
import type { DurableKill } from "./durable.js";
import { STORE_OPTION_HINTS } from "./option-hints.js";

/** Options of {@link RedisSessions}: redis-sessions 4.0.0's, plus connection and limit options. */
export interface StoreOptions extends ConnectionOptions, AccountStoreOptions {
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
   * Most bytes of heap the cached sessions may hold (an estimate that errs high); `0` means no
   * byte bound, only `cachemax`.
   * @default 33554432 (32 MiB)
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
   * Seconds a session must have been idle before a read refreshes its activity (`la` and the
   * `_sessions`, `_users` and expiry scores); `0` refreshes on every read, as redis-sessions
   * does. Every read is still counted (`r`). A read that refreshes nothing costs Redis about
   * half as much; the price: `activity`, `soapp` and `idle` lag by up to this many seconds, and
   * an idle session may expire up to this many seconds earlier than `ttl` after its last read.
   * Writes (`set`) always refresh.
   * @default 0
   */
  touchAfter?: Seconds | undefined;
  /**
   * Where "now" comes from, in unix seconds. By default Redis' own `TIME`, so every app server
   * shares one clock; pass `() => Date.now() / 1000` for redis-sessions' behaviour, or a fake
   * clock in tests.
   */
  clock?: (() => Seconds) | undefined;
  /**
   * The key layout. `"compat"` is redis-sessions' own, shared with its other clients; it needs
   * one Redis (standalone or Sentinel). `"cluster"` spreads each app over `buckets` hash tags so
   * that it works on Redis Cluster (every script single-slot), with native key expiry. The two
   * do not see each other's sessions: move them with `express-redis-sessions migrate`.
   * @default "compat"
   */
  layout?: "compat" | "cluster" | undefined;
  /**
   * Cluster layout: how many hash tags (slots) each app is spread over, 1–3844. Fixed per app
   * once it has sessions (the store refuses another count for it). App-wide operations
   * (activity, soapp, killall, wipe) make one call per bucket.
   * @default 60
   */
  buckets?: number | undefined;
  /**
   * Confirm kill, killsoid and killall with `WAIT` on a replica, so that an acknowledged logout
   * survives a failover; their results then carry `durable: false` when the replicas did not
   * confirm in time. `true` means `{ replicas: 1, timeout: 200 }`. Kills then use two
   * connections of their own, since WAIT blocks the connection it runs on: a kill takes effect
   * at once, and only its confirmation waits (see docs/scaling.md).
   * @default false
   */
  durableKill?:
    | boolean
    | { replicas?: number | undefined; timeout?: Milliseconds | undefined }
    | undefined;
  /**
   * Spans and metrics through `@opentelemetry/api` when the application has it installed (see
   * docs/observability.md); `false` loads nothing.
   * @default true
   */
  openTelemetry?: boolean | undefined;
  /**
   * How many app names metrics carry as a label; later apps share the label `other`. `0` leaves
   * the app out of metrics (spans always carry it): apps can come from requests.
   * @default 0
   */
  metricApps?: number | undefined;
}

/** Store options with every default applied. */
export interface ResolvedStoreOptions extends ResolvedAccountOptions {
  namespace: string;
  wipe: Seconds;
  cachetime: Seconds;
  cachemax: number;
  cachemaxBytes: number;
  maxDataBytes: number;
  maxDataKeys: number;
  timeout: Milliseconds;
  clock: (() => Seconds) | undefined;
  layout: "compat" | "cluster";
  buckets: number;
  durableKill: DurableKill | undefined;
  touchAfter: Seconds;
  openTelemetry: boolean;
  metricApps: number;
}

/** Every option of {@link StoreOptions} (a new one must be listed: the type says so). */
const OPTIONS: Record<keyof StoreOptions, true> = {
  client: true,
  cluster: true,
  sentinels: true,
  name: true,
  redis: true,
  options: true,
  host: true,
  port: true,
  timeout: true,
  autoPipelining: true,
  namespace: true,
  wipe: true,
  cachetime: true,
  cachemax: true,
  cachemaxBytes: true,
  maxDataBytes: true,
  maxDataKeys: true,
  clock: true,
  layout: true,
  buckets: true,
  durableKill: true,
  touchAfter: true,
  openTelemetry: true,
  metricApps: true,
  ...ACCOUNT_OPTIONS,
};

/** The store's option names: any other key is refused, since a typo would be ignored. */
export const STORE_OPTION_NAMES: ReadonlySet<string> = new Set(Object.keys(OPTIONS));

export { STORE_OPTION_HINTS };

function checkConnection(options: StoreOptions): void {
  if (options.host !== undefined && (typeof options.host !== "string" || options.host === "")) {
    fail("host", "a host name or address", options.host);
  }
  const port: unknown = options.port;
  // redis-sessions passed port on to node-redis, which also took a string of digits.
  const n = typeof port === "string" && /^\d{1,5}$/.test(port) ? Number(port) : port;
  if (
    port !== undefined &&
    !(Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535)
  ) {
    fail("port", "a port number from 1 to 65535", port);
  }
  if (typeof options.redis === "string") checkRedisUrl(options.redis, "redis");
  const url: unknown = options.options?.url;
  if (typeof url === "string") checkRedisUrl(url, "options.url");
}

/** Defaults, in one place. */
export const STORE_DEFAULTS = {
  namespace: "rs",
  wipe: 600,
  cachetime: 0,
  cachemax: 5000,
  cachemaxBytes: 32 * 1024 * 1024,
  maxDataBytes: 65536,
  maxDataKeys: 256,
  timeout: 1000,
  layout: "compat",
  buckets: DEFAULT_BUCKETS,
  durableKill: { replicas: 1, timeout: 200 },
  touchAfter: 0,
  openTelemetry: true,
  metricApps: 0,
  maxSessionsPerUser: 0,
  onSessionLimit: "evict",
} as const;

function count(
  opts: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  expected: string,
): number {
  return numberAtLeast(opts[name], name, fallback, min, expected);
}

function durableKill(value: unknown, timeout: number): DurableKill | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  const defaults = STORE_DEFAULTS.durableKill;
  if (value === true) {
    if (defaults.timeout >= timeout) {
      fail("durableKill", `a timeout below the store's timeout (${timeout} ms)`, value);
    }
    return { ...defaults };
  }
  if (typeof value !== "object") fail("durableKill", "a boolean or { replicas, timeout }", value);
  const o = value as { replicas?: unknown; timeout?: unknown };
  const replicas = integerIn(o.replicas ?? defaults.replicas, "durableKill.replicas", 1, 100);
  // WAIT must answer before the command times out, or every kill would report a timeout.
  const wait = integerIn(o.timeout ?? defaults.timeout, "durableKill.timeout", 1, timeout - 1);
  return { replicas, timeout: wait };
}

/** Applies defaults and checks every option; throws a `TypeError` that names a bad one. */
export function resolveStoreOptions(options: StoreOptions): ResolvedStoreOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `express-redis-sessions: store options must be an object (received ${shown(options)})`,
    );
  }
  const opts = options as Record<string, unknown>;
  checkKeys(options, STORE_OPTION_NAMES, "", STORE_OPTION_HINTS);
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
  checkConnection(options);
  for (const name of ["cluster", "sentinels"] as const) {
    const nodes: unknown = options[name];
    const ok = (n: unknown) =>
      typeof n === "object" && n !== null && Number.isInteger((n as { port?: unknown }).port);
    if (nodes !== undefined && (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(ok))) {
      fail(name, "a non-empty array of { host, port }", nodes);
    }
  }
  const layout = options.layout ?? STORE_DEFAULTS.layout;
  if (layout !== "compat" && layout !== "cluster") fail("layout", '"compat" or "cluster"', layout);
  if (layout === "compat" && (options.cluster || isCluster(options.client))) {
    // The compat layout's global SESSIONS index and cross-key scripts cannot run on a cluster.
    fail("layout", '"cluster" with a Redis Cluster (the compat layout needs one Redis)', layout);
  }
  const timeout = count(opts, "timeout", STORE_DEFAULTS.timeout, 1, "milliseconds >= 1");
  return {
    namespace,
    // redis-sessions raises wipe intervals below 10 s to 10 s rather than refusing them.
    wipe: wipe === 0 ? 0 : Math.max(10, wipe),
    cachetime: count(opts, "cachetime", STORE_DEFAULTS.cachetime, 0, "a number of seconds >= 0"),
    cachemax: count(opts, "cachemax", STORE_DEFAULTS.cachemax, 0, "a count >= 0") || 5000,
    cachemaxBytes: count(opts, "cachemaxBytes", STORE_DEFAULTS.cachemaxBytes, 0, "bytes >= 0"),
    maxDataBytes: count(opts, "maxDataBytes", STORE_DEFAULTS.maxDataBytes, 2, "bytes >= 2"),
    maxDataKeys: count(opts, "maxDataKeys", STORE_DEFAULTS.maxDataKeys, 1, "a count >= 1"),
    timeout,
    clock,
    layout,
    buckets: integerIn(options.buckets ?? STORE_DEFAULTS.buckets, "buckets", 1, MAX_BUCKETS),
    durableKill: durableKill(options.durableKill, timeout),
    touchAfter: integerIn(options.touchAfter ?? 0, "touchAfter", 0, 31_536_000),
    openTelemetry: bool(options.openTelemetry, "openTelemetry", STORE_DEFAULTS.openTelemetry),
    metricApps: integerIn(options.metricApps ?? STORE_DEFAULTS.metricApps, "metricApps", 0, 1000),
    ...resolveAccountOptions(options),
  };
}
