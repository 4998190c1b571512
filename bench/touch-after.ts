import type { RedisSessions, StoreOptions } from "../src/index.js";

/*
 * `touchAfter` (issue 13, item 5: a read refreshes activity at most once per N seconds) is
 * being added on another branch. Until it is merged, StoreOptions has no such field: these two
 * helpers pass it through untyped and tell whether the store took it, so that the bench
 * compiles today and its tables say which figures were measured without the option applied.
 */

/** `options` plus `touchAfter: seconds`, typed loosely (the option may not exist yet). */
export function withTouchAfter(options: StoreOptions, seconds: number): StoreOptions {
  return { ...options, touchAfter: seconds } as StoreOptions;
}

/**
 * The `touchAfter` a store resolved, or `undefined` when this build of the store does not know
 * the option (it then reads as it always did: every read refreshes activity).
 */
export function appliedTouchAfter(store: Pick<RedisSessions, "options">): number | undefined {
  const value = (store.options as Record<string, unknown>).touchAfter;
  return typeof value === "number" ? value : undefined;
}
