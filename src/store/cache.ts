import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { copySession } from "../layouts/reply.js";
import type { Milliseconds, Seconds, Session } from "../types.js";
import { ActivityRefresh, type Touch } from "./activity-refresh.js";
import { sizeOf } from "./cache-size.js";
import { CacheSubscriber, type SubscriberState } from "./cache-subscriber.js";

/**
 * The longest a cache hit waits before its activity refresh is due, in seconds: sessions live at
 * least 10 s, so refreshing every 5 s keeps a user served from memory alive.
 */
export const MAX_TOUCH_INTERVAL = 5;

/** Counters of a {@link SessionCache}, from `store.cacheStats()`. */
export interface CacheStats {
  /** Reads answered from memory. */
  hits: number;
  /** Reads that went to Redis while the cache was on. */
  misses: number;
  /** Entries dropped because a session changed (here or, via pub/sub, elsewhere). */
  invalidations: number;
  /** Entries dropped to make room (`cachemax`, `cachemaxBytes`). */
  evictions: number;
  /** Times the whole cache was dropped (subscriber lost, quit). */
  flushes: number;
  /** Entries now cached. */
  size: number;
  /** Approximate bytes now cached. */
  bytes: number;
  /** False while the invalidation channel is not subscribed: the cache is then bypassed. */
  active: boolean;
  /** The subscriber's connection; `"off"` without a cache. */
  subscriber: SubscriberState;
}

/** The counters of a store without a cache. */
export const NO_CACHE_STATS: Readonly<CacheStats> = Object.freeze({
  hits: 0,
  misses: 0,
  invalidations: 0,
  evictions: 0,
  flushes: 0,
  size: 0,
  bytes: 0,
  active: false,
  subscriber: "off",
});

interface Entry {
  app: string;
  session: Session<unknown>;
  touchedAt: number;
}

/** A load in flight; `dirty` once the key was invalidated meanwhile, so its reply is not cached. */
interface Load {
  /** The app the token was presented for: a load is never shared with another app. */
  app: string;
  dirty: boolean;
  count: number;
  generation: number;
  /** The Redis read in flight, which concurrent misses of the same key may share. */
  reading?: Promise<Session<unknown> | null>;
}

export interface SessionCacheOptions {
  cachetime: Seconds;
  cachemax: number;
  cachemaxBytes: number;
  /** Refreshes activity of the given tokens of an app (no read is counted). */
  touch: Touch;
  /** The store's timeout: the subscriber's heartbeat PING must answer within it. */
  timeout: Milliseconds;
  /** The store's clock in milliseconds: activity is rate-limited on the clock Redis sees. */
  now?: () => number;
}

/**
 * The in-process session cache behind `cachetime`. It is kept coherent by the `{ns}:cache`
 * channel that redis-sessions also uses, and never serves what it cannot vouch for:
 *
 * - a reply that raced an invalidation of its key is not cached (the `Load` guard);
 * - while the subscriber is not subscribed (startup, reconnect, Redis restart) it is empty and
 *   bypassed, since messages published meanwhile are lost;
 * - hits schedule a batched activity refresh at most once per token per interval, so users
 *   served from memory do not expire in Redis; what a refresh finds gone is dropped.
 *
 * The coalescing of misses is our own, not lru-cache's `fetch()`: that one puts a placeholder for
 * each miss into the LRU, so misses for unknown tokens (anyone can send them) would evict cached
 * sessions; it cannot hand a null or uncacheable reply to the callers that joined a read; and it
 * rejects them when an invalidation aborts a read that had nothing to cache.
 */
export class SessionCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly loads = new Map<string, Load>();
  private readonly refresh: ActivityRefresh;
  private readonly touchEveryMs: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private generation = 0;
  private subscriber: CacheSubscriber | undefined;
  private stats = { hits: 0, misses: 0, invalidations: 0, evictions: 0, flushes: 0 };

  constructor(options: SessionCacheOptions) {
    this.ttlMs = options.cachetime * 1000;
    this.timeoutMs = options.timeout;
    // What a refresh finds gone was deleted without a message (FLUSHDB, a foreign DEL, an
    // eviction): stop serving it.
    this.refresh = new ActivityRefresh(options.touch, (tokens) => {
      for (const token of tokens) this.invalidate(token);
    });
    this.now = options.now ?? Date.now;
    this.touchEveryMs = Math.max(1000, Math.min(this.ttlMs, MAX_TOUCH_INTERVAL * 1000));
    this.lru = new LRUCache<string, Entry>({
      max: options.cachemax,
      ttl: this.ttlMs,
      dispose: (_entry, _token, reason) => {
        if (reason === "evict") this.stats.evictions++;
      },
      ...(options.cachemaxBytes > 0
        ? { maxSize: options.cachemaxBytes, sizeCalculation: (e: Entry) => sizeOf(e.session) }
        : {}),
    });
  }

  /** Subscribes `sub` to the invalidation channel; the cache works only while subscribed. */
  attach(sub: Redis, channel: string): void {
    this.subscriber = new CacheSubscriber(sub, channel, this.timeoutMs, {
      message: (token) => this.invalidate(token),
      lost: () => this.flush(),
    });
  }

  /** Reconnects the subscriber (the store found its own connection black-holed). */
  reconnectSubscriber(): void {
    this.subscriber?.reconnect();
  }

  private get subscribed(): boolean {
    return this.subscriber?.active === true;
  }

  /**
   * The session of `token`: a copy from memory, a copy of a read of it already in flight, or the
   * result of `read` (then cached unless an invalidation raced it). Every caller gets its own copy.
   */
  load<D>(
    app: string,
    token: string,
    read: () => Promise<Session<D> | null>,
  ): Session<D> | Promise<Session<D> | null> {
    const hit = this.get<D>(app, token) ?? this.join<D>(app, token);
    if (hit) return hit;
    const load = this.begin(app, token);
    const reading = read().then(
      (session) => {
        this.fill(app, token, load, session);
        return session;
      },
      (err: unknown) => {
        this.fill(app, token, load, null);
        throw err;
      },
    );
    if (!load) return reading;
    load.reading = reading as Promise<Session<unknown> | null>;
    // Joiners copy the shared result; this caller gets a copy too.
    return reading.then((s) => (s ? copySession(s) : s));
  }

  /** A copy of the cached session, or undefined. Schedules an activity refresh. */
  private get<D>(app: string, token: string): Session<D> | undefined {
    if (!this.subscribed) return undefined;
    // Keyed by token alone: tokens are unique across apps, and hashing a fresh "app:token" string
    // on every hit cost more than the rest of a hit together. The app is checked on the entry.
    const entry = this.lru.get(token);
    if (!entry || entry.app !== app) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    const now = this.now();
    if (now - entry.touchedAt >= this.touchEveryMs) {
      entry.touchedAt = now;
      this.refresh.add(app, token);
    }
    return copySession(entry.session) as Session<D>;
  }

  /**
   * A copy of what a read of this key already in flight returns, so that a burst of misses for
   * one session costs one Redis call. Only a read that no invalidation has spoiled is shared.
   */
  private join<D>(app: string, token: string): Promise<Session<D> | null> | undefined {
    if (!this.subscribed) return undefined;
    const load = this.loads.get(token);
    if (!load?.reading || load.app !== app || load.dirty || load.generation !== this.generation) {
      return undefined;
    }
    this.stats.hits++;
    return load.reading.then((s) => (s ? (copySession(s) as Session<D>) : null));
  }

  /** Call before asking Redis; pass the result to {@link fill}. */
  private begin(app: string, token: string): Load | undefined {
    if (!this.subscribed) return undefined;
    let load = this.loads.get(token);
    // The same token presented for another app at the same moment: read it uncached.
    if (load && load.app !== app) return undefined;
    if (!load) {
      load = { app, dirty: false, count: 0, generation: this.generation };
      this.loads.set(token, load);
    }
    load.count++;
    return load;
  }

  /** Caches a session read from Redis unless its key was invalidated while it was in flight. */
  private fill<D>(
    app: string,
    token: string,
    load: Load | undefined,
    session: Session<D> | null,
  ): void {
    if (!load) return;
    const key = token;
    load.count--;
    if (load.count <= 0 && this.loads.get(key) === load) this.loads.delete(key);
    if (!session || load.dirty || load.generation !== this.generation || !this.subscribed) return;
    // After a read, session.ttl is what is left (all of it, or the rest for no_resave): a cached
    // copy must not outlive the session. lru-cache reads a ttl of 0 as "forever", hence the guard.
    let ttl = Math.min(this.ttlMs, session.ttl * 1000);
    // Nor its absolute end.
    if (session.expires !== undefined) ttl = Math.min(ttl, session.expires * 1000 - this.now());
    if (ttl <= 0) return;
    this.lru.set(
      key,
      { app, session: copySession(session) as Session<unknown>, touchedAt: this.now() },
      { ttl },
    );
  }

  /** Drops the entry of a token and spoils loads of it in flight. */
  invalidate(token: string): void {
    const load = this.loads.get(token);
    if (load) load.dirty = true;
    this.refresh.forget(token);
    if (this.lru.delete(token)) this.stats.invalidations++;
  }

  /** Drops every entry of an app (after killall); loads in flight of any app are spoiled. */
  invalidateApp(app: string): void {
    for (const load of this.loads.values()) load.dirty = true;
    for (const [token, entry] of [...this.lru.entries()]) {
      if (entry.app === app) this.invalidate(token);
    }
  }

  /** Drops everything and spoils every load in flight. */
  flush(): void {
    this.generation++;
    this.stats.flushes++;
    this.lru.clear();
    this.refresh.clear();
  }

  cacheStats(): CacheStats {
    return {
      ...this.stats,
      size: this.lru.size,
      bytes:
        this.lru.calculatedSize ||
        [...this.lru.values()].reduce((n, e) => n + sizeOf(e.session), 0),
      active: this.subscribed,
      subscriber: this.subscriber?.state ?? "down",
    };
  }

  /** Stops the touch timer and closes the subscriber. */
  async close(closeSub: (sub: Redis) => Promise<void>): Promise<void> {
    await this.refresh.stop();
    this.flush();
    await this.subscriber?.close(closeSub);
  }
}
