/**
 * The `name` of an error, as redis-sessions sets it (`missingParameter`, `invalidFormat`,
 * `invalidValue`), plus our own for limits and for failures of Redis itself.
 */
export type ErrorName =
  | "noSession"
  | "missingParameter"
  | "invalidFormat"
  | "invalidValue"
  | "limitExceeded"
  | "storeUnavailable";

/** A stable, machine-readable code: match on this, never on the message. */
export type ErrorCode =
  | "ERS_MISSING_APP"
  | "ERS_MISSING_ID"
  | "ERS_MISSING_IP"
  | "ERS_MISSING_TOKEN"
  | "ERS_NO_SESSION"
  | "ERS_MISSING_D"
  | "ERS_INVALID_APP"
  | "ERS_INVALID_ID"
  | "ERS_INVALID_IP"
  | "ERS_INVALID_TOKEN"
  | "ERS_INVALID_TTL"
  | "ERS_INVALID_DELTATIME"
  | "ERS_INVALID_D"
  | "ERS_EMPTY_D"
  | "ERS_INVALID_D_VALUE"
  | "ERS_D_TOO_LARGE"
  | "ERS_D_TOO_MANY_KEYS"
  | "ERS_TOKEN_COLLISION"
  | "ERS_STORE_UNAVAILABLE"
  | "ERS_STORE_TIMEOUT"
  | "ERS_STORE_OUT_OF_MEMORY";

const BRAND = Symbol.for("express-redis-sessions.error");

/**
 * Every error this package throws. Validation errors keep redis-sessions' `name` and `message`
 * verbatim (apps and its test suite match on them); `code` is stable; `status` is the HTTP status
 * that the middleware and REST router answer with.
 */
export class RedisSessionsError extends Error {
  override readonly name: ErrorName;
  readonly code: ErrorCode;
  /** HTTP status: 400 for bad input, 413 for limits, 503 when Redis fails. */
  readonly status: number;
  /** Express's error handler reveals `message` to the client only when this is true. */
  readonly expose: boolean;

  constructor(
    name: ErrorName,
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = name;
    this.code = code;
    this.status = options?.status ?? statusOf(name);
    this.expose = this.status < 500;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

function statusOf(name: ErrorName): number {
  if (name === "storeUnavailable") return 503;
  if (name === "noSession") return 401;
  if (name === "limitExceeded") return 413;
  return 400;
}

/** True for errors of this package, even when two copies of it are installed. */
export function isRedisSessionsError(err: unknown): err is RedisSessionsError {
  return (
    err instanceof RedisSessionsError ||
    (typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[BRAND] === true)
  );
}

/** True when the error means that Redis could not be reached or did not answer in time. */
export function isStoreError(err: unknown): err is RedisSessionsError {
  return isRedisSessionsError(err) && err.name === "storeUnavailable";
}

/** Wraps an ioredis failure so callers see one error type with the original as `cause`. */
export function storeError(cause: unknown): RedisSessionsError {
  if (isRedisSessionsError(cause)) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (/timed out/i.test(message)) {
    return new RedisSessionsError(
      "storeUnavailable",
      "ERS_STORE_TIMEOUT",
      `Redis did not answer in time: ${message}`,
      { cause },
    );
  }
  if (message.startsWith("OOM")) {
    return new RedisSessionsError(
      "storeUnavailable",
      "ERS_STORE_OUT_OF_MEMORY",
      `Redis is out of memory and refuses writes: ${message}`,
      { cause },
    );
  }
  return new RedisSessionsError(
    "storeUnavailable",
    "ERS_STORE_UNAVAILABLE",
    `Redis is unavailable: ${message}`,
    { cause },
  );
}
