import { type ErrorCode, errorOf, RedisSessionsError } from "./errors.js";

/** A value allowed in a session's `d`: redis-sessions stores `d` as one flat JSON object. */
export type DataValue = string | number | boolean | null;

/** Limits on `d`, checked before any Redis command. */
export interface DataLimits {
  /** Largest serialized `d` in bytes (UTF-8 JSON), after a `set` merge too. */
  maxBytes: number;
  /** Most keys in `d`, after a `set` merge too. */
  maxKeys: number;
}

// Every check below tests the length first and uses only anchored, unnested character classes,
// so each runs in time linear in its (bounded) input: redis-sessions' id regex was exponential.
const APP = /^[\w-]{3,20}$/;
const TOKEN = /^[0-9A-Za-z]{64}$/;
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;
const DIGITS = /^\d{1,15}$/;
// In a `u` regex a surrogate pair is one code point, so this matches lone surrogates only. Redis
// gets UTF-8, where each lone surrogate becomes U+FFFD: such a string would reach it changed.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** True when `s` survives the trip to Redis unchanged (no lone surrogate). */
function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** Longest id accepted, in UTF-16 code units (the limit redis-sessions documents). */
export const MAX_ID_LENGTH = 128;
/** Longest ip accepted (an IPv6 address in full is 39 characters). */
export const MAX_IP_LENGTH = 39;
/**
 * Longest ttl accepted, in seconds: ten years. Every value derived from it stays valid: the
 * cookie's Max-Age and Expires, the index scores (exact in Lua's 14-digit numbers), and a refresh
 * window (ttl / 10) shorter than the 400 days browsers keep a cookie at most.
 */
export const MAX_TTL = 315_360_000;

function missing(what: string): RedisSessionsError {
  return errorOf(`ERS_MISSING_${what.toUpperCase()}` as ErrorCode, `No ${what} supplied`);
}

function badFormat(what: string): RedisSessionsError {
  return errorOf(`ERS_INVALID_${what.toUpperCase()}` as ErrorCode, `Invalid ${what} format`);
}

/** True when `name` is a valid app name (3–20 of `[A-Za-z0-9_-]`); never throws. */
export function isAppName(name: unknown): name is string {
  return typeof name === "string" && name.length <= 20 && APP.test(name);
}

/** Validates an app name: 3–20 of `[A-Za-z0-9_-]`. */
export function validApp(app: unknown): string {
  if (!app) throw missing("app");
  if (!isAppName(app)) throw badFormat("app");
  return app;
}

/**
 * Validates a user id: any string of 1–128 characters without a line break or a lone surrogate
 * (which would reach Redis as U+FFFD, another id); numbers are coerced.
 */
export function validId(id: unknown): string {
  if (!id) throw missing("id");
  const value = typeof id === "number" && Number.isFinite(id) ? String(id) : id;
  if (
    typeof value !== "string" ||
    value.length > MAX_ID_LENGTH ||
    LINE_TERMINATOR.test(value) ||
    !wellFormed(value)
  ) {
    throw badFormat("id");
  }
  return value;
}

/** Validates an ip: 1–39 characters without a line break or a lone surrogate (no syntax check). */
export function validIp(ip: unknown): string {
  if (!ip) throw missing("ip");
  if (
    typeof ip !== "string" ||
    ip.length > MAX_IP_LENGTH ||
    LINE_TERMINATOR.test(ip) ||
    !wellFormed(ip)
  ) {
    throw badFormat("ip");
  }
  return ip;
}

/** Validates a token: exactly 64 of `[0-9A-Za-z]`. */
export function validToken(token: unknown): string {
  if (!token) throw missing("token");
  if (typeof token !== "string" || token.length !== 64 || !TOKEN.test(token)) {
    throw badFormat("token");
  }
  return token;
}

/** True when `token` has the shape of a session token; never throws. */
export function isTokenShaped(token: unknown): token is string {
  return typeof token === "string" && token.length === 64 && TOKEN.test(token);
}

function integerAtLeast10(value: unknown): number | undefined {
  let n: number | undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && DIGITS.test(value)) n = Number(value);
  return n !== undefined && Number.isSafeInteger(n) && n >= 10 ? n : undefined;
}

/**
 * Validates a ttl in seconds: an integer from 10 to {@link MAX_TTL}, or a string of digits.
 * Absent means 7200. Floats, 0 and other strings are rejected rather than stored verbatim as
 * redis-sessions did.
 */
export function validTtl(ttl: unknown, fallback = 7200): number {
  if (ttl === undefined || ttl === null) return fallback;
  const n = integerAtLeast10(ttl);
  if (n === undefined) {
    throw new RedisSessionsError(
      "invalidValue",
      "ERS_INVALID_TTL",
      "ttl must be a positive integer >= 10",
    );
  }
  if (n > MAX_TTL) {
    throw new RedisSessionsError(
      "invalidValue",
      "ERS_INVALID_TTL",
      `ttl must be at most ${MAX_TTL} seconds (ten years)`,
    );
  }
  return n;
}

/**
 * Validates `deltaTime` (or redis-sessions v3's `dt`) in seconds: an integer >= 10 or a string of
 * digits. A finite number is truncated first, as redis-sessions' `parseInt` did (60.5 means 60).
 */
export function validDeltaTime(deltaTime: unknown): number {
  const n = integerAtLeast10(
    typeof deltaTime === "number" && Number.isFinite(deltaTime) ? Math.trunc(deltaTime) : deltaTime,
  );
  if (n === undefined) {
    throw new RedisSessionsError(
      "invalidValue",
      "ERS_INVALID_DELTATIME",
      "deltaTime must be a positive integer >= 10",
    );
  }
  return n;
}

/** Reads `no_resave`: true for `true`, `1`, `"1"` and `"true"`; anything else is false. */
export function validNoResave(value: unknown): boolean {
  return value === true || value === 1 || value === "1" || value === "true";
}

/** One validated change to `d`: the JSON of its key and of its value, or `null` to delete it. */
export interface DataEntry {
  key: string;
  keyJson: string;
  valueJson: string | null;
}

function isAllowed(value: unknown): value is DataValue {
  const t = typeof value;
  return value === null || t === "string" || t === "number" || t === "boolean";
}

/**
 * Validates `d` and serializes each entry as `JSON.stringify` would. `null` means "delete this
 * key"; NaN and ±Infinity become JSON `null` values, as `JSON.stringify` makes them. A key with a
 * lone surrogate is refused: the set script also matches keys by their raw text, which would
 * reach Redis as U+FFFD and alias another key. Values are sent as JSON only, which escapes lone
 * surrogates, so they round-trip exactly.
 */
export function validData(d: unknown, limits: DataLimits): DataEntry[] {
  if (!d) throw missing("d");
  // A function counts as an object, as lodash's isObject in redis-sessions (then "no key").
  if ((typeof d !== "object" && typeof d !== "function") || Array.isArray(d)) {
    throw new RedisSessionsError("invalidValue", "ERS_INVALID_D", "d must be an object");
  }
  const keys = Object.keys(d);
  if (keys.length === 0) {
    throw new RedisSessionsError(
      "invalidValue",
      "ERS_EMPTY_D",
      "d must containt at least one key.",
    );
  }
  const entries: DataEntry[] = [];
  // Only stored entries count: `null` deletes. "{}" plus "," between entries: 1 + Σ(entry + 1).
  let bytes = 1;
  let stored = 0;
  for (const key of keys) {
    if (!wellFormed(key)) {
      throw new RedisSessionsError(
        "invalidValue",
        "ERS_INVALID_D_KEY",
        "d keys must be well-formed Unicode: a key has a lone surrogate",
      );
    }
    const value = (d as Record<string, unknown>)[key];
    if (!isAllowed(value)) {
      throw new RedisSessionsError(
        "invalidValue",
        "ERS_INVALID_D_VALUE",
        `d.${key} has a forbidden type. Only strings, numbers, boolean and null are allowed.`,
      );
    }
    const keyJson = JSON.stringify(key);
    const valueJson = value === null ? null : JSON.stringify(value);
    if (valueJson !== null) {
      if (++stored > limits.maxKeys) throw tooManyKeys(limits.maxKeys);
      // key, ":", value and the "," or "}" that follows
      bytes += Buffer.byteLength(keyJson) + Buffer.byteLength(valueJson) + 2;
      if (bytes > limits.maxBytes) throw tooLarge(limits.maxBytes);
    }
    entries.push({ key, keyJson, valueJson });
  }
  return entries;
}

/** Serializes the non-null entries of a validated `d` as one JSON object, or `""` if none. */
export function serializeData(entries: readonly DataEntry[]): string {
  let out = "";
  for (const e of entries) {
    if (e.valueJson === null) continue;
    out += `${out ? "," : "{"}${e.keyJson}:${e.valueJson}`;
  }
  return out ? `${out}}` : "";
}

/** The error for a `d` over `maxDataBytes` (raised here and, after a merge, by the set script). */
export function tooLarge(maxBytes: number): RedisSessionsError {
  return new RedisSessionsError(
    "limitExceeded",
    "ERS_D_TOO_LARGE",
    `d must not be larger than ${maxBytes} bytes when serialized`,
  );
}

/** The error for a `d` over `maxDataKeys` (raised here and, after a merge, by the set script). */
export function tooManyKeys(maxKeys: number): RedisSessionsError {
  return new RedisSessionsError(
    "limitExceeded",
    "ERS_D_TOO_MANY_KEYS",
    `d must not have more than ${maxKeys} keys`,
  );
}
