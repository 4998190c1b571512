import { debuglog } from "node:util";
import { Redis, type RedisOptions } from "ioredis";
import type { StoreTarget } from "../errors.js";
import { isCluster, type RedisClient } from "../redis-client.js";
import type { Milliseconds } from "../types.js";
import {
  addresses,
  clusterSubscriber,
  createCluster,
  type NodeAddress,
} from "./cluster-connection.js";

const debug = debuglog("express-redis-sessions");

/**
 * How to reach Redis; the first of `client`, `cluster`, `sentinels`, `redis`, `options.url` and
 * `host`/`port` wins.
 */
export interface ConnectionOptions {
  /**
   * An ioredis client you own (a `Redis` or a `Cluster`); `quit()` leaves it open. Give it a
   * `commandTimeout` (for a Cluster: in `redisOptions`).
   */
  client?: RedisClient | undefined;
  /**
   * Seed nodes of a Redis Cluster: the store creates an ioredis `Cluster` with bounded timeouts
   * and failover retries. Use it with `layout: "cluster"`. `redis` (as options) is applied to
   * every node connection (password, TLS…).
   */
  cluster?: readonly NodeAddress[] | undefined;
  /**
   * Redis Sentinel addresses: the store asks them for the master of `name` and follows
   * failovers. `redis` (as options) is merged in (password, sentinelPassword, TLS…).
   */
  sentinels?: readonly NodeAddress[] | undefined;
  /** The master group name the sentinels monitor. @default "mymaster" */
  name?: string | undefined;
  /** A Redis URL or ioredis options; merged over the bounded defaults below. */
  redis?: string | RedisOptions | undefined;
  /**
   * redis-sessions v4's node-redis options: `url`, `database`, `username`, `password` and
   * `socket.{host, port, path, tls}` are read.
   */
  options?: NodeRedisOptions | undefined;
  /** @default "127.0.0.1" */
  host?: string | undefined;
  /** @default 6379 */
  port?: number | undefined;
  /**
   * Longest wait for one Redis command before it fails with `ERS_STORE_TIMEOUT`.
   * @default 1000
   */
  timeout?: Milliseconds | undefined;
  /**
   * Sends commands issued in the same tick as one pipeline (ioredis `enableAutoPipelining`):
   * more throughput under concurrency, a little more latency when idle.
   * @default false
   */
  autoPipelining?: boolean | undefined;
}

/** The part of node-redis' client options that redis-sessions 4 users pass as `options`. */
export interface NodeRedisOptions {
  url?: string | undefined;
  database?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  socket?:
    | {
        host?: string | undefined;
        port?: number | undefined;
        path?: string | undefined;
        tls?: boolean | undefined;
      }
    | undefined;
}

function fromNodeRedis(o: NodeRedisOptions): RedisOptions {
  const out: RedisOptions = {};
  if (o.database !== undefined) out.db = o.database;
  if (o.username !== undefined) out.username = o.username;
  if (o.password !== undefined) out.password = o.password;
  if (o.socket?.host !== undefined) out.host = o.socket.host;
  if (o.socket?.port !== undefined) out.port = o.socket.port;
  if (o.socket?.path !== undefined) out.path = o.socket.path;
  if (o.socket?.tls) out.tls = {};
  return out;
}

/**
 * Defaults that keep latency bounded when Redis is down or frozen: ioredis' own defaults wait
 * 74 s on a refused connection and forever on a black hole (see docs/how-it-works.md).
 */
export function boundedDefaults(timeout: Milliseconds): RedisOptions {
  return {
    commandTimeout: timeout,
    connectTimeout: Math.max(timeout, 2000),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    // A resent command could apply twice (r and w would double); with commandTimeout the caller
    // gets a timeout instead, which it may treat as "unknown outcome".
    autoResendUnfulfilledCommands: false,
    // Reconnect at once after a blip, then back off to at most ~0.5 s (with jitter, so that many
    // processes do not reconnect in lockstep): service resumes within a second of Redis returning.
    retryStrategy: (times: number) =>
      Math.min(10 * 2 ** times, 450) + Math.floor(Math.random() * 10 * Math.min(times, 5)),
  };
}

/** The client a store talks to, and whether the store owns (and so closes) it. */
export interface Connection {
  client: RedisClient;
  owned: boolean;
  /** Which Redis this is and why it last failed, for error messages. */
  target: StoreTarget;
  /** Opens another connection like the main one (for pub/sub); null for a client we don't own. */
  duplicate(): Redis | null;
  /** Opens another client like the main one, for commands (a Cluster gives a Cluster). */
  another(): RedisClient;
}

/** Timeouts in a row after which an owned connection is dropped and opened again. */
const TIMEOUTS_BEFORE_RECONNECT = 3;

/**
 * Notices a black-holed connection. ioredis never notices a connection whose packets vanish (a
 * black hole, a dropped NAT entry): every command just times out, for as long as TCP keepalive
 * takes to give up. After a few timeouts in a row the store's own connection is dropped and
 * opened again; a healthy path answers at once.
 */
export class BlackHoleWatch {
  private timeoutsInARow = 0;
  private lastReconnect = 0;

  constructor(
    private readonly connection: Connection,
    private readonly timeout: Milliseconds,
    /** Called after a reconnect: other connections on the same path are as black-holed. */
    private readonly onReconnect: () => void = () => {},
  ) {}

  /** A call got an answer (any answer, errors included): the path works. */
  answered(): void {
    this.timeoutsInARow = 0;
  }

  /** A call timed out. */
  timedOut(): void {
    if (!this.connection.owned || ++this.timeoutsInARow < TIMEOUTS_BEFORE_RECONNECT) return;
    const now = Date.now();
    if (now - this.lastReconnect < 2 * this.timeout) return;
    this.lastReconnect = now;
    this.timeoutsInARow = 0;
    debug("%d timeouts in a row: reconnecting", TIMEOUTS_BEFORE_RECONNECT);
    this.connection.client.disconnect(true);
    this.onReconnect();
  }
}

function subscriberOf(client: RedisClient): Redis {
  const sub = isCluster(client) ? clusterSubscriber(client) : client.duplicate();
  sub.on("error", (err) => debug("subscriber error: %s", err.message));
  return sub;
}

function anotherOf(client: RedisClient): RedisClient {
  const other: RedisClient = isCluster(client) ? client.duplicate() : client.duplicate();
  other.on("error", (err: Error) => debug("redis error: %s", err.message));
  return other;
}

function address(node: { host?: string | undefined; port?: number | string | undefined }): string {
  const host = node.host ?? "localhost";
  return `${host.includes(":") ? `[${host}]` : host}:${node.port ?? 6379}`;
}

function listed(nodes: readonly Parameters<typeof address>[0][]): string {
  const shown = nodes.slice(0, 3).map(address).join(", ");
  return nodes.length > 3 ? `${shown} and ${nodes.length - 3} more` : shown;
}

/** Which Redis a client talks to, in words: addresses and names only, never credentials. */
export function describeClient(client: RedisClient): string {
  if (isCluster(client)) {
    const nodes = addresses(client);
    return nodes.length > 0 ? `Redis Cluster at ${listed(nodes)}` : "Redis Cluster";
  }
  const o = client.options;
  if (o.sentinels?.length) {
    return `Redis master "${o.name ?? "mymaster"}" via sentinels ${listed(o.sentinels)}`;
  }
  return o.path ? `Redis at ${o.path}` : `Redis at ${address(o)}`;
}

/**
 * The target of a client the store owns: it remembers the last connection error (ioredis
 * reports it only as an `error` event; a command that gives up says only that it gave up).
 * Without a listener, a dropped connection would crash the process (redis-sessions 4 did).
 */
function watched(client: RedisClient): StoreTarget {
  let last: string | undefined;
  client.on("error", (err: Error & { lastNodeError?: Error }) => {
    debug("redis error: %s", err.message);
    // A Cluster's "Failed to refresh slots cache." says why only in lastNodeError.
    last = err.lastNodeError ? `${err.message} (${err.lastNodeError.message})` : err.message;
  });
  client.on("ready", () => {
    last = undefined;
  });
  return { describe: () => describeClient(client), lastError: () => last, owned: true };
}

/** Creates or adopts the Redis client described by the options. */
export function connect(opts: ConnectionOptions, timeout: Milliseconds): Connection {
  if (opts.client) {
    const client = opts.client;
    return {
      client,
      owned: false,
      // The client's own error events and retry options are its owner's business.
      target: { describe: () => describeClient(client), lastError: () => undefined, owned: false },
      duplicate: () => {
        if (!("duplicate" in client) || typeof client.duplicate !== "function") return null;
        return subscriberOf(client);
      },
      another: () => anotherOf(client),
    };
  }
  const defaults = {
    ...boundedDefaults(timeout),
    ...(opts.autoPipelining ? { enableAutoPipelining: true } : {}),
  };
  const extra = typeof opts.redis === "object" ? opts.redis : {};
  let client: RedisClient;
  if (opts.cluster) {
    client = createCluster(opts.cluster, timeout, opts.autoPipelining === true, extra);
  } else if (opts.sentinels) {
    client = new Redis({
      ...defaults,
      sentinels: opts.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: opts.name ?? "mymaster",
      ...extra,
    });
  } else if (typeof opts.redis === "string") client = new Redis(opts.redis, defaults);
  else if (opts.redis) client = new Redis({ ...defaults, ...opts.redis });
  else if (opts.options?.url) {
    client = new Redis(opts.options.url, { ...defaults, ...fromNodeRedis(opts.options) });
  } else {
    client = new Redis({
      ...defaults,
      host: opts.host ?? "127.0.0.1",
      port: opts.port ?? 6379,
      ...fromNodeRedis(opts.options ?? {}),
    });
  }
  return {
    client,
    owned: true,
    target: watched(client),
    duplicate: () => subscriberOf(client),
    another: () => anotherOf(client),
  };
}

/** Closes a client: QUIT when it answers, a hard disconnect when Redis is gone. */
export async function close(client: RedisClient, waitMs: Milliseconds = 500): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
  } catch {
    // QUIT on a dead connection fails; the disconnect below still releases everything.
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
