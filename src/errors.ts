/**
 * The `name` of an error, as redis-sessions sets it (`missingParameter`, `invalidFormat`,
 * `invalidValue`), plus our own for limits, configuration and failures of Redis itself.
 */
export type ErrorName =
  | "noSession"
  | "missingParameter"
  | "invalidFormat"
  | "invalidValue"
  | "limitExceeded"
  | "invalidConfiguration"
  | "internalError"
  | "storeUnavailable"
  | "reauthenticationRequired"
  | "csrfFailed";

/**
 * Every code, with the `name` and HTTP status its errors carry. A code raised by a Lua script
 * (as an error reply `ERS_… detail`) is turned into an error here too, by `src/layouts/script.ts`.
 */
const CATALOGUE = {
  ERS_MISSING_APP: ["missingParameter", 400],
  ERS_MISSING_ID: ["missingParameter", 400],
  ERS_MISSING_IP: ["missingParameter", 400],
  ERS_MISSING_TOKEN: ["missingParameter", 400],
  ERS_MISSING_D: ["missingParameter", 400],
  ERS_NO_SESSION: ["noSession", 401],
  ERS_INVALID_APP: ["invalidFormat", 400],
  ERS_INVALID_ID: ["invalidFormat", 400],
  ERS_INVALID_IP: ["invalidFormat", 400],
  ERS_INVALID_TOKEN: ["invalidFormat", 400],
  ERS_INVALID_TTL: ["invalidValue", 400],
  ERS_INVALID_DELTATIME: ["invalidValue", 400],
  ERS_INVALID_D: ["invalidValue", 400],
  ERS_EMPTY_D: ["invalidValue", 400],
  ERS_INVALID_D_VALUE: ["invalidValue", 400],
  ERS_INVALID_D_KEY: ["invalidValue", 400],
  ERS_INVALID_LIMIT: ["invalidValue", 400],
  ERS_INVALID_CURSOR: ["invalidValue", 400],
  ERS_INVALID_ABSOLUTE: ["invalidValue", 400],
  ERS_INVALID_GRACE: ["invalidValue", 400],
  ERS_INVALID_HANDLE: ["invalidFormat", 400],
  ERS_INVALID_UA: ["invalidFormat", 400],
  ERS_SESSION_LIMIT: ["limitExceeded", 409],
  ERS_REAUTHENTICATE: ["reauthenticationRequired", 401],
  ERS_CSRF: ["csrfFailed", 403],
  ERS_D_TOO_LARGE: ["limitExceeded", 413],
  ERS_D_TOO_MANY_KEYS: ["limitExceeded", 413],
  ERS_TOKEN_COLLISION: ["invalidValue", 409],
  ERS_BUCKETS_MISMATCH: ["invalidConfiguration", 500],
  ERS_INVALID_COOKIE_NAME: ["invalidConfiguration", 500],
  ERS_INTERNAL: ["internalError", 500],
  ERS_STORE_BUSY: ["storeUnavailable", 503],
  ERS_STORE_UNAVAILABLE: ["storeUnavailable", 503],
  ERS_STORE_TIMEOUT: ["storeUnavailable", 503],
  ERS_STORE_OUT_OF_MEMORY: ["storeUnavailable", 503],
} as const satisfies Record<string, readonly [ErrorName, number]>;

/** A stable, machine-readable code: match on this, never on the message. */
export type ErrorCode = keyof typeof CATALOGUE;

/** True when `code` is one of this package's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(CATALOGUE, code);
}

const BRAND = Symbol.for("express-redis-sessions.error");

/**
 * Every error this package throws. Validation errors keep redis-sessions' `name` and `message`
 * verbatim (apps and its test suite match on them); `code` is stable; `status` is the HTTP status
 * that the middleware and REST router answer with.
 */
export class RedisSessionsError extends Error {
  override readonly name: ErrorName;
  readonly code: ErrorCode;
  /**
   * HTTP status: 400 bad input, 401 no session or a stale login, 403 a failed CSRF check, 409
   * conflict (a refused login over the per-user cap), 413 limits, 5xx server side.
   */
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
    this.status = options?.status ?? CATALOGUE[code]?.[1] ?? 500;
    this.expose = this.status < 500;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** An error of `code`, with the name and status the catalogue gives it. */
export function errorOf(
  code: ErrorCode,
  message: string,
  options?: { cause?: unknown },
): RedisSessionsError {
  return new RedisSessionsError(CATALOGUE[code][0], code, message, options);
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

/** Where a store's Redis is, for error messages, and why its connection last failed. */
export interface StoreTarget {
  /** `Redis at 127.0.0.1:6379`, `Redis Cluster at …`: addresses only, never credentials. */
  describe(): string;
  /** The last connection error of a connection the store owns, until it connects again. */
  lastError(): string | undefined;
  /** The store created the client, and set its retries on purpose. */
  readonly owned: boolean;
}

// ioredis gives up on a command after `maxRetriesPerRequest` reconnections with a message that
// points at that option. The store sets it on purpose; what the user needs is why it cannot connect.
const RETRIES_EXHAUSTED = /^Reached the max retries per request limit/;

/**
 * Wraps an ioredis failure so callers see one error type with the original as `cause`. With a
 * `target` the message says which Redis failed, and why it is unreachable when known.
 */
export function storeError(cause: unknown, target?: StoreTarget): RedisSessionsError {
  if (isRedisSessionsError(cause)) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  const where = target?.describe() ?? "Redis";
  const last = target?.lastError();
  if (/timed out/i.test(message)) {
    const why = last ? `; last connection error: ${last}` : "";
    return errorOf("ERS_STORE_TIMEOUT", `${where} did not answer in time: ${message}${why}`, {
      cause,
    });
  }
  if (message.startsWith("OOM")) {
    return errorOf(
      "ERS_STORE_OUT_OF_MEMORY",
      `${where} is out of memory and refuses writes: ${message}`,
      { cause },
    );
  }
  const why =
    RETRIES_EXHAUSTED.test(message) && target?.owned ? (last ?? "no connection") : message;
  return errorOf("ERS_STORE_UNAVAILABLE", `${where} is unavailable: ${why}`, { cause });
}
