import type { Router } from "express";
import { type PrometheusMetrics, prometheusMetrics } from "../observability/prometheus.js";
import { RecentOperations } from "../observability/recent.js";
import { type StoreTelemetry, telemetryOf } from "../observability/telemetry.js";
import type { RedisSessions } from "../store/store.js";
import type { Data } from "../types.js";
import { file, sendStatic } from "./admin.js";
import type { Middleware } from "./auth.js";
import { sendJson, toErrorReply } from "./errors.js";

/** What {@link mountObservability} needs from the router that mounts it. */
export interface ObserveOptions {
  store: RedisSessions<Data>;
  /** The API-key check (empty when the routes are open). */
  guard: Middleware[];
  /** Serve `GET /metrics`. */
  metrics: boolean;
  /** Serve `GET /admin/api/health` for the dashboard's health panel. */
  admin: boolean;
}

/** The dashboard's view of the store: Redis, recent latency and errors, the cache. */
export interface StoreHealth {
  redis: { up: boolean; latencyMs: number | null; code?: string };
  operations: ReturnType<RecentOperations["summary"]>;
  cache: {
    enabled: boolean;
    /** hits / (hits + misses) since the store started; null before any cached read. */
    hitRate: number | null;
    hits: number;
    misses: number;
    entries: number;
    subscriber: string;
  };
}

async function health(store: RedisSessions<Data>, recent: RecentOperations | undefined) {
  const start = performance.now();
  let redis: StoreHealth["redis"];
  try {
    await store.ping();
    redis = { up: true, latencyMs: Math.round((performance.now() - start) * 10) / 10 };
  } catch (err) {
    redis = { up: false, latencyMs: null, code: toErrorReply(err).body.code };
  }
  const stats = store.cacheStats();
  const reads = stats.hits + stats.misses;
  const body: StoreHealth = {
    redis,
    operations: (recent ?? new RecentOperations()).summary(),
    cache: {
      enabled: store.options.cachetime > 0,
      hitRate: reads === 0 ? null : stats.hits / reads,
      hits: stats.hits,
      misses: stats.misses,
      entries: stats.size,
      subscriber: stats.subscriber,
    },
  };
  return body;
}

/**
 * Mounts `GET /metrics` (Prometheus' text format) and the dashboard's health endpoint, both
 * behind the API key. Their listeners are added to the store's operations only while the
 * router lives: the returned function removes them.
 */
export function mountObservability(router: Router, options: ObserveOptions): () => void {
  const { store, guard } = options;
  const telemetry: StoreTelemetry | undefined = telemetryOf(store);
  const removals: (() => void)[] = [];
  let prometheus: PrometheusMetrics | undefined;
  let recent: RecentOperations | undefined;
  if (options.metrics && telemetry) {
    prometheus = prometheusMetrics(telemetry.probe, telemetry.apps);
    removals.push(telemetry.listen(prometheus.listener));
  }
  if (options.admin && telemetry) {
    recent = new RecentOperations();
    removals.push(telemetry.listen(recent));
  }
  if (prometheus) {
    const { text, contentType } = prometheus;
    router.get("/metrics", ...guard, (_req, res, next) => {
      text().then((body) => {
        res.statusCode = 200;
        res.setHeader("Content-Type", contentType);
        res.setHeader("Cache-Control", "no-store");
        res.end(body);
      }, next);
    });
  }
  if (options.admin) {
    router.get("/admin/health.js", (_req, res) =>
      sendStatic(res, "text/javascript", file("health.js")),
    );
    router.get("/admin/api/health", ...guard, (_req, res, next) => {
      health(store, recent).then((body) => sendJson(res, 200, body), next);
    });
  }
  return () => {
    for (const remove of removals) remove();
  };
}
