import type { StoreTarget } from "../errors.js";
import type { SessionEngine } from "../layouts/engine.js";
import type { RedisClient } from "../redis-client.js";
import type { CacheStats } from "../store/cache.js";
import { Instrumentation, type OperationListener } from "./instrument.js";
import { AppLabels, type StoreProbe } from "./labels.js";
import { loadOpenTelemetry, openTelemetryListener } from "./otel.js";

/** What telemetry needs of a store. */
export interface ObservedStore {
  readonly redis: RedisClient;
  readonly options: {
    layout: "compat" | "cluster";
    namespace: string;
    /** Report to OpenTelemetry when `@opentelemetry/api` is installed. */
    openTelemetry: boolean;
    /** App names that metrics label before the rest become `other` (0: no app label). */
    metricApps: number;
  };
  cacheStats(): CacheStats;
}

const byStore = new WeakMap<object, StoreTelemetry>();

/**
 * Everything a store reports about itself: its instrumented engines, the OpenTelemetry bridge
 * (when wanted and installed), and the listeners other layers add (the REST server's metrics).
 */
export class StoreTelemetry {
  /** App names as metric labels, bounded; shared by every exporter of the store. */
  readonly apps: AppLabels;
  /** What exporters read from the store when they collect. */
  readonly probe: StoreProbe;
  private readonly instrumentation: Instrumentation;
  private readonly closeOpenTelemetry: (() => void) | undefined;

  /** `redis`: where the store's Redis is, for the errors' messages. */
  constructor(store: ObservedStore, redis: StoreTarget) {
    const options = store.options;
    this.apps = new AppLabels(options.metricApps);
    const { layout, namespace } = options;
    this.probe = {
      layout,
      namespace,
      cacheStats: () => store.cacheStats(),
      redisReady: () => store.redis.status === "ready",
    };
    const probe = this.probe;
    this.instrumentation = new Instrumentation({ layout, namespace, redis });
    const otel = options.openTelemetry ? loadOpenTelemetry() : null;
    if (otel) {
      const bridge = openTelemetryListener(otel, probe, this.apps);
      this.instrumentation.listen(bridge.listener);
      this.closeOpenTelemetry = bridge.close;
    }
    byStore.set(store, this);
  }

  /** The engine with its Redis operations traced. */
  wrap(engine: SessionEngine): SessionEngine {
    return this.instrumentation.wrap(engine);
  }

  /** Adds a listener to the store's operations; returns its removal. */
  listen<S>(listener: OperationListener<S>): () => void {
    return this.instrumentation.listen(listener);
  }

  /** Stops reporting the store's gauges (the store quit). */
  close(): void {
    this.closeOpenTelemetry?.();
  }
}

/** The telemetry of a store made by this copy of the package, else undefined. */
export function telemetryOf(store: object): StoreTelemetry | undefined {
  return byStore.get(store);
}
