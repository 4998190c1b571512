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
 * One WAIT per connection that wrote, answering each list of `keys` in `batch`: true when
 * `durable.replicas` replicas have every write the connection made so far, the writes of those
 * keys included. WAIT counts the writes of the connection it is sent on, so on a Cluster it goes
 * to the connection of each master that owns one of the keys' slots. Never rejects: a failed or
 * timed-out WAIT is "not durable".
 */
export async function confirmWrites(
  client: RedisClient,
  batch: readonly (readonly string[])[],
  durable: DurableKill,
): Promise<boolean[]> {
  try {
    const wait = (node: Redis) =>
      node.call("WAIT", durable.replicas, durable.timeout).then(
        (acks) => Number(acks) >= durable.replicas,
        (err: Error) => {
          debug("durableKill: WAIT failed: %s", err.message);
          return false;
        },
      );
    if (!isCluster(client)) {
      const ok = await wait(client);
      if (!ok) debug("durableKill: the replicas did not confirm in time");
      return batch.map(() => ok);
    }
    const masters = new Map(client.nodes("master").map((n) => [nodeKey(n), n]));
    const acked = new Map<string, Promise<boolean>>();
    const owners = batch.map((keys) =>
      keys.map((key) => {
        const owner = client.slots[keySlot(key)]?.[0] ?? "";
        const node = masters.get(owner);
        if (!node) return Promise.resolve(false);
        if (!acked.has(owner)) acked.set(owner, wait(node));
        return acked.get(owner) as Promise<boolean>;
      }),
    );
    return await Promise.all(owners.map(async (oks) => (await Promise.all(oks)).every(Boolean)));
  } catch (err) {
    debug("durableKill: WAIT failed: %s", (err as Error).message);
    return batch.map(() => false);
  }
}

/** Confirmations waiting at most: beyond, a kill answers `durable: false` at once. */
export const MAX_WAITING = 1000;

/** A connection kills run on, and the engine that sends them there. */
export interface KillLane {
  readonly engine: SessionEngine;
  readonly client: RedisClient;
}

interface Waiter {
  keys: readonly string[];
  resolve: (durable: boolean) => void;
  /** Arrival order: the lane whose first waiter came first is confirmed first. */
  seq: number;
}

interface Lane extends KillLane {
  waiters: Waiter[];
  /** Kills sent on this lane whose reply has not come yet. */
  running: Set<Promise<unknown>>;
}

/**
 * `durableKill`: a logout takes effect at once and only its confirmation waits. WAIT blocks the
 * connection it is sent on, and must be sent on the connection that wrote, so kills run on two
 * connections of their own, and only one WAIT runs at a time: while it blocks one connection,
 * kills run on the other. One WAIT answers for every kill its connection made before it, so the
 * kills that queued meanwhile share the next one. A confirmation thus takes at most two WAIT
 * timeouts, and at most {@link MAX_WAITING} wait: beyond, a kill answers `durable: false` at once.
 */
export class DurableKills {
  private readonly lanes: Lane[];
  /** The lane new kills run on: never the one a WAIT blocks. */
  private current: Lane;
  private waiting = 0;
  private seq = 0;
  private busy = false;
  private scheduled = false;

  constructor(
    open: () => KillLane,
    private readonly config: DurableKill,
    private readonly maxWaiting = MAX_WAITING,
  ) {
    this.lanes = [open(), open()].map((lane) => ({ ...lane, waiters: [], running: new Set() }));
    this.current = this.lanes[0] as Lane;
  }

  /**
   * Runs `kill` at once on a connection that no WAIT blocks, then resolves with `durable`: true
   * once the replicas have it, false when they did not confirm in time or too many wait.
   */
  async run(
    app: string,
    target: KillTarget,
    kill: (engine: SessionEngine) => Promise<number>,
  ): Promise<{ kill: number; durable: boolean }> {
    const lane = this.current;
    let confirmed = Promise.resolve(false);
    // The confirmation is asked for only once the kill's reply came: a WAIT sent after that
    // certainly follows the write on the connection (a NOSCRIPT retry writes later).
    const ran = kill(lane.engine).then((n) => {
      confirmed = this.confirm(lane, app, target);
      return n;
    });
    lane.running.add(ran);
    const n = await ran.finally(() => lane.running.delete(ran));
    return { kill: n, durable: await confirmed };
  }

  private confirm(lane: Lane, app: string, target: KillTarget): Promise<boolean> {
    if (this.waiting >= this.maxWaiting) return Promise.resolve(false);
    this.waiting++;
    return new Promise<boolean>((resolve) => {
      const done = (durable: boolean) => {
        this.waiting--;
        resolve(durable);
      };
      const keys = lane.engine.writtenKeys(app, target);
      lane.waiters.push({ keys, resolve: done, seq: this.seq++ });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    for (const lane of this.lanes) for (const w of lane.waiters.splice(0)) w.resolve(false);
    await Promise.all(this.lanes.map((lane) => close(lane.client)));
  }

  private schedule(): void {
    if (this.busy || this.scheduled) return;
    this.scheduled = true;
    // On the next turn, so that kills whose replies arrived together share one WAIT.
    setImmediate(() => {
      this.scheduled = false;
      void this.confirmNext();
    });
  }

  /** One WAIT on the lane whose confirmations have waited longest. */
  private async confirmNext(): Promise<void> {
    const first = (l: Lane) => l.waiters[0]?.seq ?? Number.POSITIVE_INFINITY;
    const lane = [...this.lanes].sort((a, b) => first(a) - first(b))[0];
    if (this.busy || !lane || lane.waiters.length === 0) return;
    this.busy = true;
    // From now on kills go to the other lane: the WAIT will block this one. The kills already
    // sent here are waited for, so that this WAIT answers for them too.
    this.current = this.lanes.find((l) => l !== lane) as Lane;
    try {
      await Promise.allSettled(lane.running);
      const batch = lane.waiters.splice(0);
      const results = await confirmWrites(
        lane.client,
        batch.map((w) => w.keys),
        this.config,
      );
      batch.forEach((w, i) => {
        w.resolve(results[i] === true);
      });
    } finally {
      this.busy = false;
      this.schedule();
    }
  }
}
