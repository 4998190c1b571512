import { tracingChannel } from "node:diagnostics_channel";
import type { ErrorCode, RedisSessionsError } from "../errors.js";

/**
 * The name of the tracing channel of store operations. Its five channels are
 * `tracing:express-redis-sessions:store:start` (and `:end`, `:asyncStart`, `:asyncEnd`, `:error`),
 * as `diagnostics_channel.tracingChannel()` names them.
 */
export const STORE_CHANNEL = "express-redis-sessions:store";

/**
 * What the store publishes for one Redis operation on {@link STORE_CHANNEL}. It never holds a
 * token, a user id, an ip or session data: only what an operator may put in any log.
 */
export interface OperationContext {
  /** The operation: create, get, set, kill, rotate, touch, activity, soapp, soid, killsoid, killall, wipe, takeLease, ping… */
  operation: string;
  /** The app, for operations of one app (not for wipe, takeLease and ping). */
  app: string | undefined;
  /** The key layout: `compat` or `cluster`. */
  layout: "compat" | "cluster";
  /** The store's namespace (key prefix). */
  namespace: string;
  /** Where the store's Redis is (`Redis at 127.0.0.1:6379`): addresses only, never credentials. */
  target: string;
  /** Milliseconds from start to settle; set before `asyncEnd` (and `error`). */
  duration?: number;
  /**
   * Sessions the operation created, ended or removed (create, kill, killsoid, killall, wipe),
   * set before `asyncEnd`.
   */
  sessions?: number;
  /** The code of the error the operation failed with. */
  errorCode?: ErrorCode;
  /**
   * The error, as the store throws it but without its `cause` (an ioredis error can carry the
   * command's arguments, tokens among them).
   */
  error?: RedisSessionsError;
}

/** The tracing channel every store of this copy of the package publishes on. */
export const storeChannel = tracingChannel<unknown, OperationContext>(STORE_CHANNEL);
