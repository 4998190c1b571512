/*
 * The public API. The layers underneath, from the bottom: the shared base files here, the key
 * layouts (layouts/), the store (store/), then the middleware (middleware/), the REST server
 * (rest/) and migration (migrate/), and the command line (cli/).
 */

// ioredis' declarations import redis-errors, which has none of its own: ours, for strict consumers.
/// <reference path="../types/redis-errors.d.ts" preserve="true" />

// Types req.rs on Express's Request (a type-only module, kept in the emitted declarations).
import "./middleware/express-augment.js";

export type { ErrorCode, ErrorName } from "./errors.js";
export { isRedisSessionsError, isStoreError, RedisSessionsError } from "./errors.js";
export { sessionHandle } from "./handle.js";
export { ClusterLayout, DEFAULT_BUCKETS, MAX_BUCKETS } from "./layouts/cluster/keys.js";
export type { KeyLayout } from "./layouts/compat/keys.js";
export { compatLayout } from "./layouts/compat/keys.js";
// Account security, middleware side (issue 14): guards, devices, rotation options.
export type { RotateOptions, UpsertOptions } from "./middleware/context.js";
export type { CookieOptions } from "./middleware/cookie-options.js";
export type { Device } from "./middleware/devices.js";
export type { Handler, VerifyCsrfOptions } from "./middleware/guards.js";
export { loadSession, requireFresh, requireSession, verifyCsrf } from "./middleware/guards.js";
export type {
  NextFunction,
  RedisSessionsMiddleware,
  RequestWithSession,
} from "./middleware/index.js";
export { redisSessions } from "./middleware/index.js";
export type { MiddlewareOptions, StoreErrorPolicy } from "./middleware/options.js";
export { MIDDLEWARE_DEFAULTS } from "./middleware/options.js";
export type { TokenSource } from "./middleware/read-token.js";
export { RequestSession } from "./middleware/request-session.js";
export type { OperationContext } from "./observability/channel.js";
export { STORE_CHANNEL } from "./observability/channel.js";
export type { RedisClient } from "./redis-client.js";
export type { ExpressLike, RestSessionsOptions, RestSessionsRouter } from "./rest/router.js";
export { restSessions } from "./rest/router.js";
export type { AccountStoreOptions } from "./store/account-options.js";
export type { CacheStats } from "./store/cache.js";
export type { NodeAddress } from "./store/cluster-connection.js";
export type { ConnectionOptions } from "./store/connection.js";
export { boundedDefaults } from "./store/connection.js";
export type { DurableKill } from "./store/durable.js";
export type {
  KilledEvent,
  KilledManyEvent,
  KilledOneEvent,
  RotatedEvent,
  SessionEvent,
  StoreEvents,
} from "./store/events.js";
export type { ResolvedStoreOptions, StoreOptions } from "./store/options.js";
export { STORE_DEFAULTS } from "./store/options.js";
export type { HandleParams } from "./store/store.js";
export { isRedisSessions, RedisSessions } from "./store/store.js";
export { createToken } from "./token.js";
export type {
  CreateParams,
  Data,
  DataPatch,
  DefaultData,
  DeltaParams,
  IdParams,
  Milliseconds,
  PageParams,
  Seconds,
  Session,
  SessionData,
  SessionEntry,
  SessionPage,
  SessionWithToken,
  TokenParams,
} from "./types.js";
export type { DataValue } from "./validate.js";
