import type { Cluster, Redis } from "ioredis";
import type { Milliseconds } from "./types.js";

/** An ioredis client (or iovalkey, its fork): a standalone `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/**
 * True for a Redis Cluster client. Duck-typed rather than `instanceof`, so that a client from
 * another copy of ioredis, or from iovalkey, is recognised too.
 */
export function isCluster(client: unknown): client is Cluster {
  return (
    typeof client === "object" &&
    client !== null &&
    typeof (client as { nodes?: unknown }).nodes === "function"
  );
}

/** The connections that hold the data: every master of a Cluster, or the client itself. */
export function masters(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes("master") : [client];
}

/** The error a command fails with when its deadline passes, worded as ioredis' own timeout. */
export function timedOut(): Error {
  return new Error("Command timed out");
}

/**
 * `promise`, or a rejection with "Command timed out" once `ms` have passed; `undefined` means no
 * deadline. The loser of the race is still observed, so its late rejection is never unhandled.
 */
export function withDeadline<T>(promise: Promise<T>, ms: Milliseconds | undefined): Promise<T> {
  if (ms === undefined) return promise;
  if (ms <= 0) {
    promise.catch(() => {});
    return Promise.reject(timedOut());
  }
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The `commandTimeout` a client was created with (a Cluster's nodes take it from redisOptions). */
export function commandTimeoutOf(client: RedisClient): Milliseconds | undefined {
  const options = client.options as
    | { commandTimeout?: number; redisOptions?: { commandTimeout?: number } }
    | undefined;
  return options?.commandTimeout ?? options?.redisOptions?.commandTimeout;
}
