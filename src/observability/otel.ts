import { createRequire } from "node:module";
import type * as Api from "@opentelemetry/api";
import type { OperationContext } from "./channel.js";
import type { OperationListener } from "./instrument.js";
import { type AppLabels, cacheCounters, type StoreProbe, SUBSCRIBER_STATES } from "./labels.js";

/** The instrumentation scope of every tracer and meter of this package. */
export const SCOPE = "express-redis-sessions";

/** Bucket bounds of the duration histogram, in seconds: a loopback call to a far timeout. */
export const DURATION_BUCKETS = [
  0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

let api: typeof Api | null | undefined;

/**
 * `@opentelemetry/api` if the application has it installed, else null. It is an optional peer:
 * loaded on first use only, and never when a store is made with `openTelemetry: false`.
 */
export function loadOpenTelemetry(): typeof Api | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)("@opentelemetry/api") as typeof Api;
    } catch {
      api = null;
    }
  }
  return api;
}

/** Counters that an operation's context adds to, besides the duration histogram. */
interface Counters {
  errors: Api.Counter;
  created: Api.Counter;
  killed: Api.Counter;
  wipeRuns: Api.Counter;
  wipeRemoved: Api.Counter;
}

const KILLS = new Set(["kill", "killsoid", "killall"]);

/**
 * A store's OpenTelemetry instrumentation: a CLIENT span per Redis operation (child of the span
 * active where the call was made), the operation duration histogram, counters of errors,
 * sessions and wipes, and the cache's counters and subscriber state read at collection time.
 * Without an SDK it does next to nothing: metrics are skipped when the meter was a no-op at
 * construction (OpenTelemetry binds meters then, for good), and spans while the global tracer
 * provider is the API's no-op one (checked per operation: a tracer SDK may register later).
 */
export function openTelemetryListener(
  otel: typeof Api,
  probe: StoreProbe,
  apps: AppLabels,
): { listener: OperationListener<Api.Span | undefined>; close(): void } {
  const tracer = otel.trace.getTracer(SCOPE);
  const meter = otel.metrics.getMeter(SCOPE);
  const base = { "ers.layout": probe.layout, "ers.namespace": probe.namespace };
  const duration = meter.createHistogram("ers.operation.duration", {
    description: "Duration of the store's Redis operations (one script or command each)",
    unit: "s",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const counters: Counters = {
    errors: meter.createCounter("ers.operation.errors", {
      description: "Failed Redis operations, by error code (error.type)",
    }),
    created: meter.createCounter("ers.sessions.created", { description: "Sessions created" }),
    killed: meter.createCounter("ers.sessions.killed", {
      description: "Live sessions ended by kill, killsoid and killall",
    }),
    wipeRuns: meter.createCounter("ers.wipe.runs", { description: "Wipes of expired sessions" }),
    wipeRemoved: meter.createCounter("ers.wipe.removed", {
      description: "Expired sessions removed by wipes",
    }),
  };
  const close = observeStore(meter, probe, base);
  const attributesOf = attributeCache(base, apps);
  const client = { kind: otel.SpanKind.CLIENT };
  const names = new Map<string, string>();
  // The no-op singletons of this copy of the API, to recognize "no SDK" by identity.
  const metering = duration !== otel.createNoopMeter().createHistogram("ers");
  const noTracer = new otel.ProxyTracerProvider().getDelegate();
  const tracing = () => {
    const provider = otel.trace.getTracerProvider() as { getDelegate?: () => unknown };
    return provider.getDelegate?.() !== noTracer;
  };

  const listener: OperationListener<Api.Span | undefined> = {
    // Checked per operation, so that a tracer SDK registered later is used at once.
    active: () => metering || tracing(),
    start(ctx) {
      if (!tracing()) return undefined;
      let name = names.get(ctx.operation);
      if (name === undefined) {
        name = `ers.${ctx.operation}`;
        names.set(ctx.operation, name);
      }
      const span = tracer.startSpan(name, client);
      if (span.isRecording()) {
        span.setAttributes({
          "db.system.name": "redis",
          "db.system": "redis",
          "db.operation.name": ctx.operation,
          ...base,
          ...(ctx.app === undefined ? {} : { "ers.app": ctx.app }),
        });
      }
      return span;
    },
    end(ctx, span) {
      if (metering) {
        const attributes = attributesOf(ctx);
        duration.record((ctx.duration ?? 0) / 1000, attributes);
        count(counters, ctx, attributes);
      }
      if (span === undefined) return;
      if (ctx.errorCode !== undefined) {
        span.setAttribute("error.type", ctx.errorCode);
        if (ctx.error) span.recordException(ctx.error);
        span.setStatus({ code: otel.SpanStatusCode.ERROR, message: ctx.error?.message ?? "" });
      } else if (ctx.sessions !== undefined) {
        span.setAttribute("ers.sessions", ctx.sessions);
      }
      span.end();
    },
  };
  return { listener, close };
}

/**
 * The metric attributes of an operation's outcome, made once per operation, code and app label
 * (a bounded set): building them per call cost more than everything else of a no-op record.
 */
function attributeCache(base: Api.Attributes, apps: AppLabels) {
  const cache = new Map<string, Api.Attributes>();
  return (ctx: OperationContext): Api.Attributes => {
    const app = apps.label(ctx.app);
    const code = ctx.errorCode;
    const key =
      code === undefined && app === undefined ? ctx.operation : `${ctx.operation} ${code} ${app}`;
    let attributes = cache.get(key);
    if (attributes === undefined) {
      attributes = {
        ...base,
        "ers.operation": ctx.operation,
        "ers.outcome": code === undefined ? "ok" : "error",
        ...(app === undefined ? {} : { "ers.app": app }),
        ...(code === undefined ? {} : { "error.type": code }),
      };
      cache.set(key, attributes);
    }
    return attributes;
  };
}

function count(counters: Counters, ctx: OperationContext, attributes: Api.Attributes): void {
  if (ctx.errorCode !== undefined) counters.errors.add(1, attributes);
  if (ctx.operation === "wipe") counters.wipeRuns.add(1, attributes);
  const n = ctx.sessions;
  if (!n) return;
  if (ctx.operation === "create") counters.created.add(n, attributes);
  else if (KILLS.has(ctx.operation)) counters.killed.add(n, attributes);
  else if (ctx.operation === "wipe") counters.wipeRemoved.add(n, attributes);
}

/** The cache and connection gauges, read when the SDK collects; returns their removal. */
function observeStore(meter: Api.Meter, probe: StoreProbe, base: Api.Attributes): () => void {
  const cache = new Map(
    ["hits", "misses", "evictions", "invalidations", "flushes"].map((name) => [
      name,
      meter.createObservableCounter(`ers.cache.${name}`, {
        description: `Cache ${name} (see cacheStats())`,
      }),
    ]),
  );
  const entries = meter.createObservableGauge("ers.cache.entries", {
    description: "Sessions now cached",
  });
  const bytes = meter.createObservableGauge("ers.cache.size", {
    description: "Approximate heap the cached sessions hold",
    unit: "By",
  });
  const subscriber = meter.createObservableGauge("ers.cache.subscriber.state", {
    description: "1 for the cache subscriber's current state (ers.state), 0 for the others",
  });
  const up = meter.createObservableGauge("ers.redis.up", {
    description: "1 while the store's connection to Redis is ready, else 0",
  });
  const observables = [...cache.values(), entries, bytes, subscriber, up];
  const callback: Api.BatchObservableCallback = (result) => {
    const stats = probe.cacheStats();
    for (const [name, value] of cacheCounters(stats)) {
      const observable = cache.get(name);
      if (observable) result.observe(observable, value, base);
    }
    result.observe(entries, stats.size, base);
    result.observe(bytes, stats.bytes, base);
    for (const state of SUBSCRIBER_STATES) {
      result.observe(subscriber, stats.subscriber === state ? 1 : 0, {
        ...base,
        "ers.state": state,
      });
    }
    result.observe(up, probe.redisReady() ? 1 : 0, base);
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
