import { checkKeys } from "../option-checks.js";
import { STORE_OPTION_HINTS, STORE_OPTION_NAMES, type StoreOptions } from "../store/options.js";
import { isRedisSessions } from "../store/store.js";
import type { RestSessionsOptions } from "./router.js";

const DEFAULT_BODY_LIMIT = 65_536;

/** The router's own options; the others are the store's. */
const ROUTER_OPTION_NAMES = [
  "store",
  "apiKey",
  "bodyLimit",
  "admin",
  "notFound",
  "protectHealth",
  "metrics",
  "express",
] as const satisfies (keyof RestSessionsOptions)[];

const OPTION_NAMES: ReadonlySet<string> = new Set([...ROUTER_OPTION_NAMES, ...STORE_OPTION_NAMES]);

/** Splits the store's options off the router's, refusing unknown keys and unused store options. */
export function storeOptionsOf(options: RestSessionsOptions): StoreOptions {
  checkKeys(options, OPTION_NAMES, "", STORE_OPTION_HINTS);
  const {
    store,
    apiKey,
    bodyLimit,
    admin,
    notFound,
    protectHealth,
    metrics,
    express,
    ...storeOptions
  } = options;
  const unused = Object.keys(storeOptions).filter(
    (k) => storeOptions[k as keyof StoreOptions] !== undefined,
  );
  if (store !== undefined && unused.length > 0) {
    throw new TypeError(
      `express-redis-sessions: option "${unused[0]}" has no effect with "store": give it to the store you pass`,
    );
  }
  return storeOptions;
}

/** Checks the router's own options; returns the body limit. */
export function checkOptions(options: RestSessionsOptions, keys: string[]): number {
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 2) {
    throw new TypeError(
      `express-redis-sessions: option "bodyLimit" must be an integer number of bytes >= 2 (received ${String(limit)})`,
    );
  }
  if (options.admin && keys.length === 0) {
    throw new TypeError(
      'express-redis-sessions: the admin dashboard needs an API key: set option "apiKey" (or --api-key)',
    );
  }
  // Branded rather than instanceof: an app may hold a store from another copy of the package.
  if (options.store !== undefined && !isRedisSessions(options.store)) {
    throw new TypeError('express-redis-sessions: option "store" must be a RedisSessions');
  }
  return limit;
}
