import type { CacheStats } from "../store/cache.js";

/** The label value of apps beyond the bound of {@link AppLabels}. */
export const OTHER_APPS = "other";

/**
 * App names as a metric label, bounded: the first `max` apps seen keep their name, later ones
 * share {@link OTHER_APPS}. With `max` 0 metrics carry no app at all. App names can come from
 * requests (a REST server shared by tenants), and every label value is a time series to keep.
 */
export class AppLabels {
  private readonly seen = new Set<string>();

  constructor(readonly max: number) {}

  /** The label for `app`, or undefined when metrics carry no app. */
  label(app: string | undefined): string | undefined {
    if (this.max === 0 || app === undefined) return undefined;
    if (this.seen.has(app)) return app;
    if (this.seen.size >= this.max) return OTHER_APPS;
    this.seen.add(app);
    return app;
  }
}

/** The states the cache's subscriber reports, each a series of the subscriber-state gauge. */
export const SUBSCRIBER_STATES = ["subscribed", "connecting", "down", "off"] as const;

/** What a metrics exporter reads from a store when it collects (nothing is counted per call). */
export interface StoreProbe {
  readonly layout: "compat" | "cluster";
  readonly namespace: string;
  cacheStats(): CacheStats;
  /** True while the store's connection is ready for commands. */
  redisReady(): boolean;
}

/** The cache's cumulative counters, by the name their metrics end in. */
export function cacheCounters(stats: CacheStats): [name: string, value: number][] {
  return [
    ["hits", stats.hits],
    ["misses", stats.misses],
    ["evictions", stats.evictions],
    ["invalidations", stats.invalidations],
    ["flushes", stats.flushes],
  ];
}
