import { EventEmitter } from "node:events";
import { debuglog } from "node:util";

const debug = debuglog("express-redis-sessions");

/** A session's lifecycle event: never a token, only its handle (see `sessionHandle`). */
export interface SessionEvent {
  app: string;
  id: string;
  handle: string;
}

/** A rotation: `handle` names the new token, `previous` the old one; `grace` in seconds. */
export interface RotatedEvent extends SessionEvent {
  previous: string;
  grace: number;
}

/** One session ended by `kill` (by token; its id is not known then) or by handle. */
export interface KilledOneEvent {
  app: string;
  handle: string;
  id?: string;
  via: "kill" | "handle";
}

/** Sessions ended by `killsoid` (with the id) or `killall`; `count` live ones. */
export interface KilledManyEvent {
  app: string;
  id?: string;
  count: number;
  via: "killsoid" | "killall";
}

/** What `killed` carries. */
export type KilledEvent = KilledOneEvent | KilledManyEvent;

/**
 * The lifecycle events of a store, emitted by the process that did the operation: `created`,
 * `rotated`, `killed`, `evicted` (by the per-user cap) and `expired` (found by this process'
 * wipe).
 */
export type StoreEvents = {
  created: [SessionEvent];
  rotated: [RotatedEvent];
  killed: [KilledEvent];
  evicted: [SessionEvent];
  expired: [SessionEvent];
};

/**
 * An EventEmitter whose listeners never fail the operation that emits: a listener that throws
 * (or returns a promise that rejects) is logged with NODE_DEBUG=express-redis-sessions and the
 * other listeners still run.
 */
export class StoreEmitter extends EventEmitter<StoreEvents> {
  /**
   * Emits `event` to every listener, each guarded. The payload is made only when someone
   * listens: it hashes tokens into handles, work that a store without listeners never needs.
   */
  protected announce<E extends keyof StoreEvents>(
    event: E,
    payload: () => StoreEvents[E][0],
  ): void {
    if (this.listenerCount(event) === 0) return;
    const value = payload();
    // rawListeners: a `once` wrapper removes itself when called.
    for (const listener of this.rawListeners(event)) {
      try {
        const result: unknown = (listener as (...a: unknown[]) => unknown)(value);
        if (result && typeof (result as Promise<unknown>).then === "function") {
          (result as Promise<unknown>).then(undefined, (err: unknown) => failed(event, err));
        }
      } catch (err) {
        failed(event, err);
      }
    }
  }
}

function failed(event: string, err: unknown): void {
  debug("a %s listener failed: %s", event, err instanceof Error ? err.message : String(err));
}
