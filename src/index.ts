export type { CacheStats } from "./cache.js";
export type { ConnectionOptions } from "./connection.js";
export { boundedDefaults } from "./connection.js";
export type { ErrorCode, ErrorName } from "./errors.js";
export { isRedisSessionsError, isStoreError, RedisSessionsError } from "./errors.js";
export type { KeyLayout } from "./keys.js";
export { compatLayout } from "./keys.js";
export type { ResolvedStoreOptions, StoreOptions } from "./options.js";
export { STORE_DEFAULTS } from "./options.js";
export type { RedisClient } from "./script.js";
export type { CreateParams, DeltaParams, IdParams, TokenParams } from "./store.js";
export { RedisSessions } from "./store.js";
export { createToken } from "./token.js";
export type {
  Data,
  DataPatch,
  DefaultData,
  Milliseconds,
  Seconds,
  Session,
  SessionData,
  SessionWithToken,
} from "./types.js";
export type { DataValue } from "./validate.js";
