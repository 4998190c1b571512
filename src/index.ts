export type { CacheStats } from "./cache.js";
export type { NodeAddress } from "./cluster-connection.js";
export { ClusterLayout, DEFAULT_BUCKETS, MAX_BUCKETS } from "./cluster-keys.js";
export type { ConnectionOptions } from "./connection.js";
export { boundedDefaults } from "./connection.js";
export type { DurableKill } from "./durable.js";
export type { ErrorCode, ErrorName } from "./errors.js";
export { isRedisSessionsError, isStoreError, RedisSessionsError } from "./errors.js";

// Types req.rs on Express's Request (a type-only module, kept in the emitted declarations).
import "./express-augment.js";

export type { CookieOptions } from "./cookie-options.js";
export type { KeyLayout } from "./keys.js";
export { compatLayout } from "./keys.js";
export type { NextFunction, RedisSessionsMiddleware, RequestWithSession } from "./middleware.js";
export { redisSessions } from "./middleware.js";
export type { MiddlewareOptions, StoreErrorPolicy } from "./middleware-options.js";
export { MIDDLEWARE_DEFAULTS } from "./middleware-options.js";
export type { ResolvedStoreOptions, StoreOptions } from "./options.js";
export { STORE_DEFAULTS } from "./options.js";
export type { UpsertOptions } from "./request-session.js";
export { RequestSession } from "./request-session.js";
export type { ExpressLike, RestSessionsOptions, RestSessionsRouter } from "./rest/router.js";
export { restSessions } from "./rest/router.js";
export type { Handler } from "./route-guards.js";
export { loadSession, requireSession } from "./route-guards.js";
export type { RedisClient } from "./script.js";
export type { CreateParams, DeltaParams, IdParams, TokenParams } from "./store.js";
export { RedisSessions } from "./store.js";
export { createToken } from "./token.js";
export type { TokenSource } from "./token-source.js";
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
