import { debuglog } from "node:util";
import { RedisSessionsError, type StoreTarget } from "../errors.js";
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
  wipe: (r) => Number(r) || 0,
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
            this.listeners.length === 0 && !storeChannel.hasSubscribers
              ? fn.apply(engine, args)
              : this.run(name, args, fn, engine);
    }
    return wrapped as unknown as SessionEngine;
  }

  private run(operation: string, args: unknown[], fn: Method, engine: object): unknown {
    const { layout, namespace } = this.labels;
    this.target ??= this.labels.redis.describe();
    const app = APPLESS.has(operation) || typeof args[0] !== "string" ? undefined : args[0];
    const ctx: OperationContext = { operation, app, layout, namespace, target: this.target };
    const run: Run = {
      ctx,
      listeners: this.listeners,
      states: [],
      started: 0,
      published: storeChannel.hasSubscribers,
    };
    if (!run.published) return this.start(run, fn, engine, args);
    return storeChannel.start.runStores(ctx, () => {
      try {
        return this.start(run, fn, engine, args);
      } finally {
        storeChannel.end.publish(ctx);
      }
    });
  }

  private start(run: Run, fn: Method, engine: object, args: unknown[]): unknown {
    for (const listener of run.listeners) {
      let state: unknown;
      try {
        state = listener.start(run.ctx);
      } catch (err) {
        listenerFailed(err);
      }
      run.states.push(state);
    }
    run.started = performance.now();
    let promise: unknown;
    try {
      promise = fn.apply(engine, args);
    } catch (err) {
      this.settle(run, undefined, err);
      throw err;
    }
    return Promise.resolve(promise).then(
      (result) => {
        this.settle(run, result, undefined);
        return result;
      },
      (err: unknown) => {
        this.settle(run, undefined, err ?? new Error("rejected"));
        throw err;
      },
    );
  }

  /** Completes the context (`err` set: failed) and tells the channel and the listeners. */
  private settle(run: Run, result: unknown, err: unknown): void {
    const { ctx, published, listeners, states } = run;
    ctx.duration = performance.now() - run.started;
    if (err !== undefined) {
      const typed = toStoreError(err, this.labels.redis);
      ctx.errorCode = typed.code;
      // Without the cause: an ioredis error carries the command's arguments (tokens).
      ctx.error = new RedisSessionsError(typed.name, typed.code, typed.message);
      if (published) storeChannel.error.publish(ctx);
    } else {
      const count = SESSIONS[ctx.operation];
      if (count) ctx.sessions = count(result);
    }
    if (published) storeChannel.asyncStart.publish(ctx);
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]?.end(ctx, states[i]);
      } catch (e) {
        listenerFailed(e);
      }
    }
    if (published) storeChannel.asyncEnd.publish(ctx);
  }
}

type Method = (...args: unknown[]) => unknown;

/** Telemetry that fails must never fail the operation it watches: it is only logged. */
function listenerFailed(err: unknown): void {
  debug("telemetry listener failed: %s", (err as Error)?.message ?? String(err));
}

/** One operation in flight. */
interface Run {
  ctx: OperationContext;
  listeners: OperationListener[];
  states: unknown[];
  started: number;
  /** The tracing channel had subscribers when it started. */
  published: boolean;
}
