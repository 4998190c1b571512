import { debuglog } from "node:util";
import type { Cluster, Redis } from "ioredis";
import { keySlot } from "./cluster-keys.js";
import type { RedisClient } from "./script.js";
import type { Milliseconds } from "./types.js";

/** How `durableKill` confirms a logout: `WAIT replicas timeout` after the write. */
export interface DurableKill {
  /** Replicas that must have the kill before it counts as durable. */
  replicas: number;
  /** Longest wait for them, in milliseconds (below the store's `timeout`). */
  timeout: Milliseconds;
}

const debug = debuglog("express-redis-sessions");

function isCluster(client: RedisClient): client is Cluster {
  return "nodes" in client && typeof client.nodes === "function";
}

function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/**
 * Asks Redis whether `durable.replicas` replicas have every write this connection made so far,
 * and resolves true only if they have. WAIT counts the writes of the connection it is sent on,
 * so on a Cluster it goes to the connection of each master that owns one of `keys`' slots (the
 * ones the kill wrote). Never rejects: a failed or timed-out WAIT is "not durable".
 *
 * WAIT blocks its connection until the replicas answer or the timeout passes, so kills should
 * run on a connection of their own (the store does that) rather than the one every request uses.
 */
export async function confirmWrites(
  client: RedisClient,
  keys: readonly string[],
  durable: DurableKill,
): Promise<boolean> {
  try {
    const targets: Redis[] = [];
    if (isCluster(client)) {
      const masters = new Map(client.nodes("master").map((n) => [nodeKey(n), n]));
      const owners = new Set<string>();
      for (const key of keys) {
        const owner = client.slots[keySlot(key)]?.[0];
        if (!owner) return false;
        owners.add(owner);
      }
      for (const owner of owners) {
        const node = masters.get(owner);
        if (!node) return false;
        targets.push(node);
      }
    } else {
      targets.push(client);
    }
    const acks = await Promise.all(
      targets.map((node) => node.call("WAIT", durable.replicas, durable.timeout)),
    );
    const durableNow = acks.every((n) => Number(n) >= durable.replicas);
    if (!durableNow) debug("durableKill: WAIT answered %o", acks);
    return durableNow;
  } catch (err) {
    debug("durableKill: WAIT failed: %s", (err as Error).message);
    return false;
  }
}
