import { debuglog } from "node:util";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { Milliseconds } from "../types.js";

const debug = debuglog("express-redis-sessions");

/** A Redis node's address. */
export interface NodeAddress {
  host: string;
  port: number;
}

/**
 * ioredis Cluster options that keep latency bounded and ride out a failover. Every node
 * connection gets the store's commandTimeout; a command that meets a closed connection or
 * CLUSTERDOWN is retried on the refreshed slot map every 200 ms, which keeps it going through
 * most of a failover (`cluster-node-timeout` plus an election) without outliving its timeout.
 */
export function clusterOptions(
  timeout: Milliseconds,
  autoPipelining: boolean,
  redisOptions: RedisOptions = {},
): ClusterOptions {
  const {
    retryStrategy: _retry,
    enableOfflineQueue: _queue,
    host: _host,
    port: _port,
    ...rest
  } = redisOptions;
  return {
    redisOptions: {
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 2000),
      maxRetriesPerRequest: 1,
      // A resent command could apply twice; see boundedDefaults in connection.ts.
      autoResendUnfulfilledCommands: false,
      ...rest,
    },
    // Writes and reads go to masters: a replica may lag, and a session read refreshes activity.
    scaleReads: "master",
    enableOfflineQueue: true,
    enableAutoPipelining: autoPipelining,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    slotsRefreshTimeout: Math.max(500, Math.min(timeout, 2000)),
    // Reconnect at once after a blip, then at most every second.
    clusterRetryStrategy: (times: number) =>
      Math.min(50 * times, 1000) + Math.floor(Math.random() * 20),
  };
}

/** Creates an ioredis Cluster from seed nodes, with {@link clusterOptions}. */
export function createCluster(
  nodes: readonly NodeAddress[],
  timeout: Milliseconds,
  autoPipelining: boolean,
  redisOptions?: RedisOptions,
): Cluster {
  const cluster = new Cluster(
    nodes.map((n) => ({ host: n.host, port: n.port })),
    clusterOptions(timeout, autoPipelining, redisOptions),
  );
  return cluster;
}

/** The nodes a Cluster knows, or its seeds before it first connected. */
export function addresses(cluster: Cluster): NodeAddress[] {
  const known = cluster.nodes("all").map((n) => ({
    host: n.options.host ?? "127.0.0.1",
    port: n.options.port ?? 6379,
  }));
  if (known.length > 0) return known;
  // Before the first connection the cluster knows only its seeds (a private field of ioredis).
  const seeds = (cluster as unknown as { startupNodes?: unknown[] }).startupNodes ?? [];
  return seeds.flatMap((n) => {
    const node = n as { host?: string; port?: number | string };
    return typeof n === "object" && node.port !== undefined
      ? [{ host: node.host ?? "127.0.0.1", port: Number(node.port) }]
      : [];
  });
}

/**
 * A pub/sub connection for the cache's invalidation channel on a Redis Cluster. PUBLISH reaches
 * the subscribers of every node, so one node is enough; when it stops answering, the connection
 * moves to the next node the cluster knows. It is a plain `Redis`, so the cache sees each loss
 * (`close`, `reconnecting`) and flushes: ioredis' own cluster subscriber switches nodes silently,
 * and a cache that missed messages during the switch would serve killed sessions.
 */
export function clusterSubscriber(cluster: Cluster): Redis {
  const { redisOptions = {} } = cluster.options;
  const start = addresses(cluster)[0] ?? { host: "127.0.0.1", port: 6379 };
  let failures = 0;
  const sub: Redis = new Redis({
    ...redisOptions,
    host: start.host,
    port: start.port,
    lazyConnect: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => {
      failures++;
      if (failures >= 2) {
        // ioredis reads host and port from these options at each connect.
        const list = addresses(cluster);
        const here = list.findIndex(
          (a) => a.host === sub.options.host && a.port === sub.options.port,
        );
        const next = list[(here + 1) % Math.max(1, list.length)];
        if (next) {
          debug("cache subscriber moves to %s:%d", next.host, next.port);
          sub.options.host = next.host;
          sub.options.port = next.port;
        }
        failures = 0;
      }
      return Math.min(20 * times, 500);
    },
  });
  sub.on("ready", () => {
    failures = 0;
  });
  return sub;
}
