import { type DefaultData, RedisSessions, type StoreOptions } from "../../src/index.js";
import { redisUrl, uniqueNamespace } from "./context.js";

/** Anything a test opens and must close: a store, redis-sessions 4.0.0, a client. */
export interface Quittable {
  quit(): Promise<unknown>;
}

/** Stores a test file opens, all closed by one `quitAll()` in its `afterEach` or `afterAll`. */
export interface StorePool {
  /**
   * A store in a namespace of its own, without a wipe timer, on the run's private server
   * (`redisUrl()`) unless the pool's defaults or `options` say otherwise.
   */
  open<D = DefaultData>(options?: StoreOptions): RedisSessions<D>;
  /** Closes `resource` in `quitAll()` too; returns it. */
  track<T extends Quittable>(resource: T): T;
  /** Quits everything opened or tracked so far, and forgets it. */
  quitAll(): Promise<void>;
}

/**
 * A {@link StorePool}. `defaults` is read on every `open` (so it may name a server that a
 * `beforeAll` starts) and is overridden by the options passed to `open`.
 */
export function storePool(defaults: () => StoreOptions = () => ({})): StorePool {
  const open: Quittable[] = [];
  const track = <T extends Quittable>(resource: T): T => {
    open.push(resource);
    return resource;
  };
  return {
    open: <D = DefaultData>(options: StoreOptions = {}) => {
      const given: StoreOptions = { ...defaults(), ...options };
      // An option given as `undefined` stays so (e.g. `redis: undefined` to use `options.url`).
      return track(
        new RedisSessions<D>({
          redis: "redis" in given ? given.redis : redisUrl(),
          namespace: "namespace" in given ? given.namespace : uniqueNamespace(),
          wipe: 0,
          ...given,
        }),
      );
    },
    track,
    quitAll: async () => {
      await Promise.all(open.splice(0).map((r) => r.quit()));
    },
  };
}

/** The start of {@link fakeClock}, in unix seconds. */
export const T0 = 1_700_000_000;

/** A fake store clock in unix seconds (`clock: c.now`): tests move `c.t` instead of sleeping. */
export function fakeClock(start = T0): { t: number; now: () => number } {
  const clock = { t: start, now: () => clock.t };
  return clock;
}
