import { debuglog } from "node:util";
import { type ErrorCode, RedisSessionsError, type StoreTarget } from "../errors.js";
import type { SessionEngine } from "../layouts/engine.js";
import { toStoreError } from "../layouts/script.js";
import { type OperationContext, storeChannel } from "./channel.js";

/**
 * Something that watches a store's operations (the OpenTelemetry bridge, the REST server's
 * metrics). `start` runs synchronously in the caller's async context, before the operation is
 * sent; what it returns is handed to `end` once the operation settled.
 */
export interface OperationListener<S = unknown> {
  start(ctx: OperationContext): S;
  end(ctx: OperationContext, state: S): void;
  /**
   * False while the listener would do nothing with an operation (the OpenTelemetry bridge
   * without an SDK): an operation that no one needs then costs what it costs with no listener.
   */
  active?(): boolean;
}

const debug = debuglog("express-redis-sessions");

/** Engine methods that send nothing to Redis (token generation, key names). */
const LOCAL = new Set(["constructor", "token", "successor", "writtenKeys"]);

/** Operations whose first argument is not an app. */
const APPLESS = new Set(["wipe", "takeLease", "ping"]);

/** Sessions an operation's result says it created, ended or removed. */
const SESSIONS: Partial<Record<string, (result: unknown) => number>> = {
  create: () => 1,
  kill: (r) => Number(r) || 0,
  killall: (r) => Number(r) || 0,
  wipe: (r) => Number((r as { removed?: unknown } | null)?.removed) || 0,
  killsoid: (r) => Number((r as { kill?: unknown } | null)?.kill) || 0,
};

/** Every method name of an object and its prototypes (accessors left out). */
function methodNames(engine: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = engine; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (typeof Object.getOwnPropertyDescriptor(o, name)?.value === "function") names.add(name);
    }
  }
  return [...names];
}

/** What every context of one store shares. */
export interface StoreLabels {
  layout: "compat" | "cluster";
  namespace: string;
  /** Its Redis, for the error messages. */
  redis: StoreTarget;
}

/**
 * The instrumentation of one store: wraps its engines so that every Redis operation publishes
 * on the `express-redis-sessions:store` tracing channel and reaches the store's listeners.
 * With neither a channel subscriber nor a listener, an operation costs two property reads.
 */
export class Instrumentation {
  private listeners: OperationListener[] = [];
  private target: string | undefined;

  constructor(private readonly labels: StoreLabels) {}

  /** Adds a listener; returns the function that removes it. */
  listen<S>(listener: OperationListener<S>): () => void {
    this.listeners = [...this.listeners, listener as OperationListener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /**
   * An engine whose Redis operations are traced; local methods and properties are the original's.
   * Operations are found by name, so one an engine gains later is traced under its method name.
   */
  wrap(engine: SessionEngine): SessionEngine {
    const wrapped = Object.create(engine) as Record<string, unknown>;
    const source = engine as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of methodNames(engine)) {
      const fn = source[name] as (...args: unknown[]) => unknown;
      if (name === "constructor") continue;
      wrapped[name] = LOCAL.has(name)
        ? fn.bind(engine)
        : (...args: unknown[]) =>
            this.idle() ? fn.apply(engine, args) : this.run(name, args, fn, engine);
    }
    return wrapped as unknown as SessionEngine;
  }

  /** True when no channel subscriber and no active listener wants operations. */
  private idle(): boolean {
    if (storeChannel.hasSubscribers) return false;
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      if (listeners[i]?.active?.() !== false) return false;
    }
    return true;
  }

  private run(operation: string, args: unknown[], fn: Method, engine: object): unknown {
    this.target ??= this.labels.redis.describe();
    const app = APPLESS.has(operation) || typeof args[0] !== "string" ? undefined : args[0];
    const op = new Operation(operation, app, this.labels, this.target, this.listeners);
    if (!op.published) return op.start(fn, engine, args);
    return storeChannel.start.runStores(op, () => {
      try {
        return op.start(fn, engine, args);
      } finally {
        storeChannel.end.publish(op);
      }
    });
  }
}

/**
 * One operation in flight: the context that subscribers and listeners get (its public fields),
 * and what settling it needs, kept in private fields that no subscriber sees or serializes.
 * One object per operation, of one shape, since every field is there from the start.
 */
class Operation implements OperationContext {
  readonly layout: "compat" | "cluster";
  readonly namespace: string;
  duration: number | undefined = undefined;
  sessions: number | undefined = undefined;
  errorCode: ErrorCode | undefined = undefined;
  error: RedisSessionsError | undefined = undefined;
  readonly #published = storeChannel.hasSubscribers;
  #started = 0;
  #state: unknown = undefined;
  #states: unknown[] | undefined = undefined;
  readonly #labels: StoreLabels;
  readonly #listeners: OperationListener[];

  constructor(
    readonly operation: string,
    readonly app: string | undefined,
    labels: StoreLabels,
    readonly target: string,
    listeners: OperationListener[],
  ) {
    this.layout = labels.layout;
    this.namespace = labels.namespace;
    this.#labels = labels;
    this.#listeners = listeners;
  }

  /** The tracing channel had subscribers when the operation started. */
  get published(): boolean {
    return this.#published;
  }

  start(fn: Method, engine: object, args: unknown[]): unknown {
    const listeners = this.#listeners;
    if (listeners.length === 1) this.#state = startOf(listeners[0], this);
    else if (listeners.length > 1) this.#states = listeners.map((l) => startOf(l, this));
    this.#started = performance.now();
    let promise: unknown;
    try {
      promise = fn.apply(engine, args);
    } catch (err) {
      this.settle(undefined, err);
      throw err;
    }
    return Promise.resolve(promise).then(
      (result) => {
        this.settle(result, undefined);
        return result;
      },
      (err: unknown) => {
        this.settle(undefined, err ?? new Error("rejected"));
        throw err;
      },
    );
  }

  /** Completes the context (`err` set: failed) and tells the channel and the listeners. */
  private settle(result: unknown, err: unknown): void {
    const published = this.published;
    this.duration = performance.now() - this.#started;
    if (err !== undefined) {
      const typed = toStoreError(err, this.#labels.redis);
      this.errorCode = typed.code;
      // Without the cause: an ioredis error carries the command's arguments (tokens).
      this.error = new RedisSessionsError(typed.name, typed.code, typed.message);
      if (published) storeChannel.error.publish(this);
    } else {
      const count = SESSIONS[this.operation];
      if (count) this.sessions = count(result);
    }
    if (published) storeChannel.asyncStart.publish(this);
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]?.end(this, this.#states ? this.#states[i] : this.#state);
      } catch (e) {
        listenerFailed(e);
      }
    }
    if (published) storeChannel.asyncEnd.publish(this);
  }
}

function startOf(listener: OperationListener | undefined, ctx: OperationContext): unknown {
  try {
    return listener?.start(ctx);
  } catch (err) {
    listenerFailed(err);
    return undefined;
  }
}

type Method = (...args: unknown[]) => unknown;

/** Telemetry that fails must never fail the operation it watches: it is only logged. */
function listenerFailed(err: unknown): void {
  debug("telemetry listener failed: %s", (err as Error)?.message ?? String(err));
}
