import { createRequire } from "node:module";
import type * as Prom from "prom-client";
import type { OperationContext } from "./channel.js";
import type { OperationListener } from "./instrument.js";
import { type AppLabels, cacheCounters, type StoreProbe, SUBSCRIBER_STATES } from "./labels.js";
import { DURATION_BUCKETS } from "./otel.js";

/** The metrics of one store in a prom-client registry, and the listener that feeds them. */
export interface PrometheusMetrics {
  readonly registry: Prom.Registry;
  readonly listener: OperationListener<undefined>;
  /** The exposition text: the store's metrics, then the process metrics if asked for. */
  text(): Promise<string>;
  /** The `Content-Type` of {@link text}. */
  readonly contentType: string;
}

/**
 * prom-client's process metrics, in one registry per process: each collection starts an
 * event-loop monitor and a GC observer that never stop, so every router shares the one set.
 */
let processRegistry: Prom.Registry | undefined;

/**
 * A registry of its own (not prom-client's global one, which an application may fill too) with
 * the store's metrics, served with prom-client's process metrics (CPU, memory, event loop lag,
 * GC) unless `processMetrics` is false. prom-client is loaded on the first call only, so that an
 * application that uses the store or the middleware alone never loads it.
 */
export function prometheusMetrics(
  probe: StoreProbe,
  apps: AppLabels,
  processMetrics = true,
): PrometheusMetrics {
  const prom = createRequire(import.meta.url)("prom-client") as typeof Prom;
  const registry = new prom.Registry();
  let shared: Prom.Registry | undefined;
  if (processMetrics) {
    if (!processRegistry) {
      processRegistry = new prom.Registry();
      prom.collectDefaultMetrics({ register: processRegistry });
    }
    shared = processRegistry;
  }
  const registers = [registry];
  const labelNames = apps.max > 0 ? ["operation", "outcome", "app"] : ["operation", "outcome"];
  const duration = new prom.Histogram({
    name: "ers_operation_duration_seconds",
    help: "Duration of the store's Redis operations (one script or command each)",
    labelNames,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const errors = new prom.Counter({
    name: "ers_operation_errors_total",
    help: "Failed Redis operations, by error code",
    labelNames: ["operation", "code"],
    registers,
  });
  const created = new prom.Counter({
    name: "ers_sessions_created_total",
    help: "Sessions created",
    registers,
  });
  const killed = new prom.Counter({
    name: "ers_sessions_killed_total",
    help: "Live sessions ended by kill, killsoid and killall",
    labelNames: ["operation"],
    registers,
  });
  const wipes = new prom.Counter({
    name: "ers_wipe_runs_total",
    help: "Wipes of expired sessions, by outcome",
    labelNames: ["outcome"],
    registers,
  });
  const removed = new prom.Counter({
    name: "ers_wipe_removed_total",
    help: "Expired sessions removed by wipes",
    registers,
  });
  storeGauges(prom, probe, registers);

  const listener: OperationListener<undefined> = {
    start: () => undefined,
    end(ctx: OperationContext) {
      const outcome = ctx.errorCode === undefined ? "ok" : "error";
      const app = apps.label(ctx.app);
      const labels: Record<string, string> = { operation: ctx.operation, outcome };
      if (apps.max > 0) labels.app = app ?? "";
      duration.observe(labels, (ctx.duration ?? 0) / 1000);
      if (ctx.errorCode !== undefined) {
        errors.inc({ operation: ctx.operation, code: ctx.errorCode });
      }
      if (ctx.operation === "wipe") wipes.inc({ outcome });
      const n = ctx.sessions;
      if (!n) return;
      if (ctx.operation === "create") created.inc(n);
      else if (ctx.operation === "wipe") removed.inc(n);
      else killed.inc({ operation: ctx.operation }, n);
    },
  };
  const text = async () => (await registry.metrics()) + (shared ? await shared.metrics() : "");
  return { registry, listener, text, contentType: registry.contentType };
}

/** The cache's counters and the connection's state, read from the store at each scrape. */
function storeGauges(prom: typeof Prom, probe: StoreProbe, registers: Prom.Registry[]): void {
  // Each collect reads cacheStats() itself: a few object reads per scrape.
  for (const [name] of cacheCounters(probe.cacheStats())) {
    new prom.Counter({
      name: `ers_cache_${name}_total`,
      help: `Cache ${name} (see cacheStats())`,
      registers,
      collect() {
        const value = cacheCounters(probe.cacheStats()).find(([n]) => n === name)?.[1] ?? 0;
        this.reset();
        if (value > 0) this.inc(value);
      },
    });
  }
  const gauge = (name: string, help: string, read: () => number) =>
    new prom.Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  gauge("ers_cache_entries", "Sessions now cached", () => probe.cacheStats().size);
  gauge(
    "ers_cache_bytes",
    "Approximate heap the cached sessions hold",
    () => probe.cacheStats().bytes,
  );
  gauge("ers_redis_up", "1 while the store's connection to Redis is ready", () =>
    probe.redisReady() ? 1 : 0,
  );
  new prom.Gauge({
    name: "ers_cache_subscriber_state",
    help: "1 for the cache subscriber's current state, 0 for the others",
    labelNames: ["state"],
    registers,
    collect() {
      const current = probe.cacheStats().subscriber;
      for (const state of SUBSCRIBER_STATES) this.set({ state }, current === state ? 1 : 0);
    },
  });
  new prom.Gauge({
    name: "ers_store_info",
    help: "The store's key layout and namespace",
    labelNames: ["layout", "namespace"],
    registers,
    collect() {
      this.set({ layout: probe.layout, namespace: probe.namespace }, 1);
    },
  });
}
