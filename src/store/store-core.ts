import type { RedisSessionsError } from "../errors.js";
import { sessionHandle } from "../handle.js";
import type { KeyLayout } from "../layouts/compat/keys.js";
import { createEngine, type KillTarget, type SessionEngine } from "../layouts/engine.js";
import { toStoreError } from "../layouts/script.js";
import { StoreTelemetry, telemetryOf } from "../observability/telemetry.js";
import type { RedisClient } from "../redis-client.js";
import { type CacheStats, NO_CACHE_STATS, SessionCache } from "./cache.js";
import { BlackHoleWatch, type Connection, close, connect } from "./connection.js";
import { DurableKills } from "./durable.js";
import { StoreEmitter } from "./events.js";
import { Listings } from "./listing.js";
import { type ResolvedStoreOptions, resolveStoreOptions, type StoreOptions } from "./options.js";
import { Wiper } from "./wiper.js";

/**
 * What a {@link RedisSessions} is built on: its connection, engine, cache, wipe timer and
 * listings, and the helpers its operations share (typed errors, durable kills, events). The
 * operations themselves are in store.ts.
 */
export class StoreCore<D> extends StoreEmitter {
  /** The ioredis client this store sends its commands to. */
  readonly redis: RedisClient;
  /** Where keys live (for `layout: "cluster"`, a compat-shaped view: `ClusterLayout.view`). */
  readonly keys: KeyLayout;
  /** The resolved options. */
  readonly options: Readonly<ResolvedStoreOptions>;
  /** The key layout's Redis operations. */
  protected readonly engine: SessionEngine;
  /** With `durableKill`: kills on connections of their own, confirmed on the replicas. */
  private readonly durable: DurableKills | undefined;
  private readonly connection: Connection;
  private readonly watch: BlackHoleWatch;
  protected readonly cache: SessionCache | undefined;
  private readonly wiper: Wiper;
  protected readonly listings: Listings<D>;
  private closed = false;

  /** @throws {TypeError} when an option is invalid. */
  constructor(options: StoreOptions = {}) {
    super();
    this.options = Object.freeze(resolveStoreOptions(options));
    const { clock, timeout, layout, namespace, buckets, touchAfter } = this.options;
    this.connection = connect(options, timeout);
    this.redis = this.connection.client;
    // The cache's subscriber is as black-holed as the connection the watch drops.
    const reconnectSubscriber = () => this.cache?.reconnectSubscriber();
    this.watch = new BlackHoleWatch(this.connection, timeout, reconnectSubscriber);
    // clock "" makes the scripts read Redis' own TIME, one clock for every app server.
    const now = clock ? () => String(Math.floor(clock())) : () => "";
    const config = { namespace, clock: now, timeout, buckets, touchAfter };
    const telemetry = new StoreTelemetry(this, this.connection.target);
    this.engine = telemetry.wrap(createEngine(layout, { ...config, client: this.redis }));
    this.keys = this.engine.keys;
    if (this.options.durableKill) {
      // Kills on connections of their own, WAIT on the one that wrote: see durable.ts.
      const lane = (client = this.connection.another()) => ({
        client,
        engine: telemetry.wrap(createEngine(layout, { ...config, client })),
      });
      this.durable = new DurableKills(lane, this.options.durableKill);
    }
    this.wiper = new Wiper(this.engine, this.options.wipe, (sessions) => {
      for (const { app, id, token } of sessions) {
        this.announce("expired", () => ({ app, id, handle: sessionHandle(token) }));
      }
    });
    this.wiper.start();
    this.cache = this.startCache();
    this.listings = new Listings<D>(this.engine, (op) => this.call(op));
  }

  /** `"PONG"` when Redis answers. */
  async ping(): Promise<"PONG"> {
    return (await this.call(() => this.engine.ping())) as "PONG";
  }

  /** Cache counters (all zero when `cachetime` is 0). */
  cacheStats(): CacheStats {
    return this.cache?.cacheStats() ?? { ...NO_CACHE_STATS };
  }

  /**
   * Removes expired sessions now (normally the wipe timer does this). Resolves to the number
   * removed; each is also reported as an `expired` event. Unlike the timer, it runs whether or
   * not another process holds the wipe lease.
   */
  wipe(): Promise<number> {
    return this.wiper.run(true).catch((err: unknown) => {
      throw toStoreError(err, this.connection.target);
    });
  }

  /** Stops timers and closes every connection this store opened (not a `client` you gave). */
  async quit(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wiper.stop();
    telemetryOf(this)?.close();
    await this.cache?.close((sub) => close(sub));
    await this.durable?.close();
    if (this.connection.owned) await close(this.redis);
  }

  /** Runs a kill; with `durableKill`, adds `durable` once the replicas confirmed it or not. */
  protected killing(
    app: string,
    target: KillTarget,
    op: (engine: SessionEngine) => Promise<number>,
  ): Promise<{ kill: number; durable?: boolean }> {
    if (!this.durable) return this.call(() => op(this.engine)).then((kill) => ({ kill }));
    return this.durable.run(app, target, (engine) => this.call(() => op(engine)));
  }

  protected limits() {
    const { maxDataBytes: maxBytes, maxDataKeys: maxKeys } = this.options;
    return { maxBytes, maxKeys };
  }

  private startCache(): SessionCache | undefined {
    if (this.options.cachetime <= 0) return undefined;
    const sub = this.connection.duplicate();
    if (!sub) return undefined;
    const { clock, cachetime, cachemax, cachemaxBytes, timeout } = this.options;
    const cache = new SessionCache({
      ...{ cachetime, cachemax, cachemaxBytes, timeout },
      ...(clock ? { now: () => clock() * 1000 } : {}),
      touch: (app, tokens) => this.call(() => this.engine.touch(app, tokens)),
    });
    cache.attach(sub, this.engine.channel);
    return cache;
  }

  /** Runs one engine call: failures become typed errors, timeouts feed the black-hole watch. */
  protected async call<T>(op: () => Promise<T>): Promise<T> {
    let error: RedisSessionsError;
    try {
      const result = await op();
      this.watch.answered();
      return result;
    } catch (err) {
      error = toStoreError(err, this.connection.target);
    }
    if (error.code === "ERS_STORE_TIMEOUT") this.watch.timedOut();
    throw error;
  }
}
