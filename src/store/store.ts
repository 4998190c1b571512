import type { RedisSessionsError } from "../errors.js";
import type { KeyLayout } from "../layouts/compat/keys.js";
import { createEngine, type KillTarget, type SessionEngine } from "../layouts/engine.js";
import { toSession } from "../layouts/reply.js";
import { toStoreError } from "../layouts/script.js";
import { StoreTelemetry, telemetryOf } from "../observability/telemetry.js";
import type { RedisClient } from "../redis-client.js";
import type {
  CreateParams,
  DataPatch,
  DefaultData,
  DeltaParams,
  IdParams,
  PageParams,
  Session,
  SessionPage,
  SessionWithToken,
  TokenParams,
} from "../types.js";
import {
  serializeData,
  validApp,
  validData,
  validId,
  validIp,
  validNoResave,
  validToken,
  validTtl,
} from "../validate.js";
import { isBranded, STORE_BRAND } from "./brand.js";
import { type CacheStats, NO_CACHE_STATS, SessionCache } from "./cache.js";
import { BlackHoleWatch, type Connection, close, connect } from "./connection.js";
import { DurableKills } from "./durable.js";
import { type Listing, Listings } from "./listing.js";
import { type ResolvedStoreOptions, resolveStoreOptions, type StoreOptions } from "./options.js";
import { Wiper } from "./wiper.js";

/** True for a {@link RedisSessions}, even one from another copy of this package. */
export const isRedisSessions = isBranded as (value: unknown) => value is RedisSessions<never>;

/**
 * A session store with the API of redis-sessions 4.0.0 and its Redis data, byte for byte, so
 * that sessions are shared with redis-sessions v1–v4, its Elixir port and rest-sessions. Every
 * operation is one atomic Lua script (one round trip); tokens come from `node:crypto`; input is
 * validated before any Redis command; every call settles within `timeout` even when Redis is gone.
 *
 * @example
 * const rs = new RedisSessions({ redis: "redis://127.0.0.1:6379" });
 * const { token } = await rs.create({ app: "webapp", id: "user1", ip: "127.0.0.1" });
 * const session = await rs.get({ app: "webapp", token });
 */
export class RedisSessions<D = DefaultData> {
  /** The ioredis client this store sends its commands to. */
  readonly redis: RedisClient;
  /** Where keys live (for `layout: "cluster"`, a compat-shaped view: `ClusterLayout.view`). */
  readonly keys: KeyLayout;
  /** The resolved options. */
  readonly options: Readonly<ResolvedStoreOptions>;
  /** The key layout's Redis operations. */
  private readonly engine: SessionEngine;
  /** With `durableKill`: kills on connections of their own, confirmed on the replicas. */
  private readonly durable: DurableKills | undefined;
  private readonly connection: Connection;
  private readonly watch: BlackHoleWatch;
  private readonly cache: SessionCache | undefined;
  private readonly wiper: Wiper;
  private readonly listings: Listings<D>;
  private closed = false;

  /** @throws {TypeError} when an option is invalid. */
  constructor(options: StoreOptions = {}) {
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
    this.wiper = new Wiper(this.engine, this.options.wipe);
    this.wiper.start();
    this.cache = this.startCache();
    this.listings = new Listings<D>(this.engine, (op) => this.call(op));
    Object.defineProperty(this, STORE_BRAND, { value: true });
  }

  /** Creates a session for `id` and returns its new token. */
  async create(params: CreateParams<D>): Promise<{ token: string }> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    const ip = validIp(params.ip);
    const ttl = validTtl(params.ttl);
    const d = params.d ? serializeData(validData(params.d, this.limits())) : "";
    const noResave = validNoResave(params.no_resave);
    const token = this.engine.token(app, id);
    await this.call(() => this.engine.create(app, token, { id, ip, ttl, d, noResave }));
    return { token };
  }

  /** The session of `token`, or null if it is unknown or expired. Counts a read (`r`). */
  async get(params: TokenParams): Promise<Session<D> | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    const read = async () => {
      const reply = await this.call(() => this.engine.get(app, token));
      return reply ? toSession<D>(reply) : null;
    };
    return this.cache ? this.cache.load(app, token, read) : read();
  }

  /**
   * Merges `d` into the session's data atomically: `null` deletes a key, other keys are kept.
   * Returns the session with the merged `d`, or null if it is unknown or expired.
   */
  async set(params: TokenParams & { d: DataPatch<D> }): Promise<Session<D> | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    const limits = this.limits();
    const entries = validData(params.d, limits);
    try {
      const reply = await this.call(() => this.engine.set(app, token, entries, limits));
      return reply ? toSession<D>(reply) : null;
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /**
   * Ends one session. `{kill: 1}` if it was alive, `{kill: 0}` otherwise; with `durableKill`,
   * also `durable`: whether the replicas confirmed it.
   */
  async kill(params: TokenParams): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    try {
      return await this.killing(app, { token }, (engine) => engine.kill(app, token));
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /**
   * Replaces a session's token with a new one (same id, data and counters); the old token is
   * dead at once. Resolves to the new token, or null if the session is unknown or expired.
   */
  async rotate(params: TokenParams): Promise<{ token: string } | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    try {
      const next = this.engine.successor(app, token);
      const moved = await this.call(() => this.engine.rotate(app, token, next));
      return moved ? { token: next } : null;
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /** The number of distinct ids active within the last `deltaTime` seconds. */
  activity(params: DeltaParams): Promise<{ activity: number }> {
    return this.listings.activity(params);
  }

  /** Live sessions active within `deltaTime`, most recent first; with `limit`, one page. */
  soapp(params: DeltaParams & { limit?: undefined }): Promise<{ sessions: SessionWithToken<D>[] }>;
  soapp(params: DeltaParams & PageParams): Promise<SessionPage<D>>;
  soapp(params: DeltaParams & Partial<PageParams>): Promise<Listing<D>>;
  soapp(params: DeltaParams & Partial<PageParams>) {
    return this.listings.soapp(params);
  }

  /** The live sessions of one id; with `limit`, one page. */
  soid(params: IdParams & { limit?: undefined }): Promise<{ sessions: SessionWithToken<D>[] }>;
  soid(params: IdParams & PageParams): Promise<SessionPage<D>>;
  soid(params: IdParams & Partial<PageParams>): Promise<Listing<D>>;
  soid(params: IdParams & Partial<PageParams>) {
    return this.listings.soid(params);
  }

  /** Sessions active within `deltaTime` (as soapp lists them, expired ones not yet wiped too). */
  countSessions(params: DeltaParams): Promise<{ count: number }> {
    return this.listings.countSessions(params);
  }

  /**
   * Ends every session of one id ("log out everywhere"), sessions created meanwhile included,
   * in bounded batches (not one atomic step; see the engines); counts the live ones.
   */
  async killsoid(params: IdParams): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    try {
      return await this.killing(app, { id }, async (engine) => {
        const { kill, tokens } = await engine.killsoid(app, id);
        for (const token of tokens) this.cache?.invalidate(token);
        return kill;
      });
    } catch (err) {
      this.cache?.invalidateApp(app);
      throw err;
    }
  }

  /** Ends every session of an app, in bounded batches; counts the live ones. */
  async killall(params: { app: string }): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    try {
      return await this.killing(app, "all", (engine) => engine.killall(app));
    } finally {
      this.cache?.invalidateApp(app);
    }
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
   * removed. Unlike the timer, it runs whether or not another process holds the wipe lease.
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
  private killing(
    app: string,
    target: KillTarget,
    op: (engine: SessionEngine) => Promise<number>,
  ): Promise<{ kill: number; durable?: boolean }> {
    if (!this.durable) return this.call(() => op(this.engine)).then((kill) => ({ kill }));
    return this.durable.run(app, target, (engine) => this.call(() => op(engine)));
  }

  private limits() {
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
  private async call<T>(op: () => Promise<T>): Promise<T> {
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
