import { debuglog } from "node:util";
import type { Redis } from "ioredis";
import { keySlot } from "../layouts/cluster/slots.js";
import type { KillTarget, SessionEngine } from "../layouts/engine.js";
import { isCluster, type RedisClient } from "../redis-client.js";
import type { Milliseconds } from "../types.js";
import { close } from "./connection.js";

/** How `durableKill` confirms a logout: `WAIT replicas timeout` after the write. */
export interface DurableKill {
  /** Replicas that must have the kill before it counts as durable. */
  replicas: number;
  /** Longest wait for them, in milliseconds (below the store's `timeout`). */
  timeout: Milliseconds;
}

const debug = debuglog("express-redis-sessions");

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

/**
 * `durableKill`: kills run on a connection of their own (WAIT blocks the connection it is sent
 * on, which must be the one that wrote) and are confirmed on the replicas afterwards.
 */
export class DurableKills {
  constructor(
    /** The engine kills run through, on {@link client}. */
    readonly engine: SessionEngine,
    private readonly client: RedisClient,
    private readonly config: DurableKill,
  ) {}

  /** True when the replicas confirmed every write of this connection up to now. */
  confirm(app: string, target: KillTarget): Promise<boolean> {
    return confirmWrites(this.client, this.engine.writtenKeys(app, target), this.config);
  }

  close(): Promise<void> {
    return close(this.client);
  }
}
