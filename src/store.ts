import { type CacheStats, SessionCache } from "./cache.js";
import { type Connection, close, connect } from "./connection.js";
import type { SessionEngine } from "./engine.js";
import { createEngines, type DurableKills, type KillTarget } from "./engines.js";
import { RedisSessionsError, storeError } from "./errors.js";
import type { KeyLayout } from "./keys.js";
import { type ResolvedStoreOptions, resolveStoreOptions, type StoreOptions } from "./options.js";
import type { RedisClient } from "./script.js";
import { toSession, toSessionList } from "./session.js";
import type { DataPatch, DefaultData, Seconds, Session, SessionWithToken } from "./types.js";
import {
  serializeData,
  tooLarge,
  tooManyKeys,
  validApp,
  validData,
  validDeltaTime,
  validId,
  validIp,
  validNoResave,
  validToken,
  validTtl,
} from "./validate.js";
import { Wiper } from "./wiper.js";

/** Parameters of {@link RedisSessions.create}. */
export interface CreateParams<D = DefaultData> {
  app: string;
  /** The user id; numbers are turned into strings. */
  id: string | number;
  ip: string;
  /** Idle timeout in seconds, an integer >= 10. @default 7200 */
  ttl?: Seconds | string | undefined;
  d?: Partial<D> | DataPatch<D> | undefined;
  /** Keep the expiry fixed at create + ttl instead of sliding it on each access. */
  no_resave?: boolean | undefined;
}

/** `{app, token}` */
export interface TokenParams {
  app: string;
  token: string;
}

/** `{app, deltaTime}`; redis-sessions v3's `dt` is accepted too. */
export interface DeltaParams {
  app: string;
  deltaTime?: Seconds | string | undefined;
  dt?: Seconds | string | undefined;
}

/** `{app, id}` */
export interface IdParams {
  app: string;
  id: string | number;
}

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
  /**
   * Where keys live: the redis-sessions layout, or for `layout: "cluster"` a view of it that
   * tools can use (see `ClusterLayout.view`).
   */
  readonly keys: KeyLayout;
  /** The key layout's Redis operations. */
  private readonly engine: SessionEngine;
  /** With `durableKill`: kills on their own connection, confirmed on the replicas. */
  private readonly durable: DurableKills | undefined;
  /** The resolved options. */
  readonly options: Readonly<ResolvedStoreOptions>;
  private readonly connection: Connection;
  private readonly cache: SessionCache | undefined;
  private readonly wiper: Wiper;
  private readonly now: () => string;
  private readonly deadline: number | undefined;
  private closed = false;
  private timeoutsInARow = 0;
  private lastForcedReconnect = 0;

  /** @throws {TypeError} when an option is invalid. */
  constructor(options: StoreOptions = {}) {
    this.options = Object.freeze(resolveStoreOptions(options));
    const { clock, timeout } = this.options;
    this.connection = connect(options, timeout);
    this.redis = this.connection.client;
    const engines = createEngines(this.connection, this.options);
    this.engine = engines.engine;
    this.keys = engines.keys;
    this.durable = engines.durable;
    this.now = clock ? () => String(Math.floor(clock())) : () => "";
    // A client we don't own may have no commandTimeout: then each call gets its own deadline.
    const given = this.redis.options as
      | { commandTimeout?: number; redisOptions?: { commandTimeout?: number } }
      | undefined;
    // A Cluster's nodes take their commandTimeout from redisOptions.
    const own = given?.commandTimeout ?? given?.redisOptions?.commandTimeout;
    this.deadline = this.connection.owned || own ? undefined : timeout;
    this.wiper = new Wiper(this.redis, this.engine, this.options.wipe, this.now);
    this.wiper.start();
    this.cache = this.startCache();
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
    await this.run(() => this.engine.create(this.now(), app, token, { id, ip, ttl, d, noResave }));
    return { token };
  }

  /** The session of `token`, or null if it is unknown or expired. Counts a read (`r`). */
  async get(params: TokenParams): Promise<Session<D> | null> {
    const app = validApp(params?.app);
    const token = validToken(params?.token);
    const cache = this.cache;
    if (!cache) return this.read(app, token);
    const hit = cache.get<D>(app, token) ?? cache.join<D>(app, token);
    if (hit) return hit;
    const load = cache.begin(app, token);
    const reading = this.read(app, token).then(
      (session) => {
        cache.fill(app, token, load, session);
        return session;
      },
      (err: unknown) => {
        cache.fill(app, token, load, null);
        throw err;
      },
    );
    if (load) load.reading = reading as Promise<Session<unknown> | null>;
    // Every caller, this one included, gets its own copy: joiners copy the shared result.
    return reading.then((s) =>
      s && load?.reading ? { ...s, ...(s.d ? { d: { ...s.d } } : {}) } : s,
    );
  }

  private async read(app: string, token: string): Promise<Session<D> | null> {
    const reply = await this.run(() => this.engine.get(this.now(), app, token, true));
    return reply ? toSession<D>(reply) : null;
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
      const reply = await this.run(() => this.engine.set(this.now(), app, token, entries, limits));
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
      const engine = this.durable?.engine ?? this.engine;
      const kill = await this.run(() => engine.kill(this.now(), app, token));
      return this.confirmed(app, { token }, { kill });
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
      const moved = await this.run(() => this.engine.rotate(this.now(), app, token, next));
      return moved ? { token: next } : null;
    } finally {
      this.cache?.invalidate(token);
    }
  }

  /** The number of distinct ids active within the last `deltaTime` seconds. */
  async activity(params: DeltaParams): Promise<{ activity: number }> {
    const app = validApp(params?.app);
    const dt = validDeltaTime(params?.deltaTime ?? params?.dt);
    return { activity: await this.run(() => this.engine.activity(this.now(), app, dt)) };
  }

  /** The live sessions of an app active within `deltaTime` seconds, most recent first. */
  async soapp(params: DeltaParams): Promise<{ sessions: SessionWithToken<D>[] }> {
    const app = validApp(params?.app);
    const dt = validDeltaTime(params?.deltaTime ?? params?.dt);
    const reply = await this.run(() => this.engine.soapp(this.now(), app, dt));
    return { sessions: toSessionList<D>(reply) };
  }

  /** The live sessions of one id. */
  async soid(params: IdParams): Promise<{ sessions: SessionWithToken<D>[] }> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    const reply = await this.run(() => this.engine.soid(this.now(), app, id));
    return { sessions: toSessionList<D>(reply) };
  }

  /** Ends every session of one id at once ("log out everywhere"); counts the live ones. */
  async killsoid(params: IdParams): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    const id = validId(params?.id);
    try {
      const engine = this.durable?.engine ?? this.engine;
      const { kill, tokens } = await this.run(() => engine.killsoid(this.now(), app, id));
      for (const token of tokens) this.cache?.invalidate(token);
      return this.confirmed(app, { id }, { kill });
    } catch (err) {
      this.cache?.invalidateApp(app);
      throw err;
    }
  }

  /** Ends every session of an app, in bounded batches; counts the live ones. */
  async killall(params: { app: string }): Promise<{ kill: number; durable?: boolean }> {
    const app = validApp(params?.app);
    try {
      const engine = this.durable?.engine ?? this.engine;
      const kill = await this.run(() => engine.killall(this.now(), app));
      return this.confirmed(app, "all", { kill });
    } finally {
      this.cache?.invalidateApp(app);
    }
  }

  /** `"PONG"` when Redis answers. */
  async ping(): Promise<"PONG"> {
    return (await this.run(() => this.redis.ping())) as "PONG";
  }

  /** Cache counters (all zero when `cachetime` is 0). */
  cacheStats(): CacheStats {
    return (
      this.cache?.cacheStats() ?? {
        hits: 0,
        misses: 0,
        invalidations: 0,
        flushes: 0,
        size: 0,
        bytes: 0,
        active: false,
      }
    );
  }

  /**
   * Removes expired sessions now (normally the wipe timer does this). Resolves to the number
   * removed. Unlike the timer, it runs whether or not another process holds the wipe lease.
   */
  wipe(): Promise<number> {
    return this.wiper.run(true).catch((err: unknown) => {
      throw storeError(err);
    });
  }

  /** Stops timers and closes every connection this store opened; a `client` you gave stays open. */
  async quit(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wiper.stop();
    await this.cache?.close((sub) => close(sub));
    await this.durable?.close();
    if (this.connection.owned) await close(this.redis);
  }

  /** Adds `durable` to a kill's result when `durableKill` is on; v4's shape otherwise. */
  private async confirmed(
    app: string,
    target: KillTarget,
    result: { kill: number },
  ): Promise<{ kill: number; durable?: boolean }> {
    if (!this.durable) return result;
    return { ...result, durable: await this.durable.confirm(app, target) };
  }

  private limits() {
    return { maxBytes: this.options.maxDataBytes, maxKeys: this.options.maxDataKeys };
  }

  private startCache(): SessionCache | undefined {
    if (this.options.cachetime <= 0) return undefined;
    const sub = this.connection.duplicate();
    if (!sub) return undefined;
    const cache = new SessionCache({
      cachetime: this.options.cachetime,
      cachemax: this.options.cachemax,
      cachemaxBytes: this.options.cachemaxBytes,
      ...(this.options.clock ? { now: () => (this.options.clock?.() ?? 0) * 1000 } : {}),
      touch: (app, tokens) => this.run(() => this.engine.touch(this.now(), app, tokens)),
    });
    cache.attach(sub, this.engine.channel);
    return cache;
  }

  private guard<T>(promise: Promise<T>): Promise<T> {
    if (this.deadline === undefined) return promise;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("Command timed out")), this.deadline);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      const result = await this.guard(op());
      this.timeoutsInARow = 0;
      return result;
    } catch (err) {
      const error = this.translate(err);
      if (error.code === "ERS_STORE_TIMEOUT") this.timedOut();
      throw error;
    }
  }

  /**
   * ioredis never notices a connection whose packets vanish (a black hole, a dropped NAT entry):
   * every command just times out, for as long as TCP keepalive takes to give up. After a few
   * timeouts in a row, drop our connection and reconnect; a healthy path answers at once.
   */
  private timedOut(): void {
    if (!this.connection.owned || ++this.timeoutsInARow < 3) return;
    const now = Date.now();
    if (now - this.lastForcedReconnect < 2 * this.options.timeout) return;
    this.lastForcedReconnect = now;
    this.timeoutsInARow = 0;
    this.redis.disconnect(true);
  }

  private translate(err: unknown): RedisSessionsError {
    const message = err instanceof Error ? err.message : "";
    if (message.includes("ERS_D_TOO_LARGE")) return tooLarge(this.options.maxDataBytes);
    if (message.includes("ERS_D_TOO_MANY_KEYS")) return tooManyKeys(this.options.maxDataKeys);
    if (message.includes("ERS_BAD_DATA")) {
      return new RedisSessionsError(
        "invalidValue",
        "ERS_INVALID_D",
        "d stored in Redis is not a JSON object",
        {
          cause: err,
        },
      );
    }
    if (message.includes("ERS_TOKEN_COLLISION")) {
      return new RedisSessionsError("invalidValue", "ERS_TOKEN_COLLISION", "Token collision", {
        cause: err,
      });
    }
    return storeError(err);
  }
}
