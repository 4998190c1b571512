import { errorOf } from "./errors.js";
import { HANDLE_LENGTH } from "./handle.js";
import { MAX_TTL, validIp } from "./validate.js";

/*
 * Checks of the account-security parameters (absolute, ua, grace, handle), run before any Redis
 * command like the checks in validate.ts.
 */

/** Longest user agent kept, in UTF-16 code units; longer ones are cut, not refused. */
export const MAX_UA_LENGTH = 512;
/** Longest rotation grace, in seconds. */
export const MAX_GRACE = 3600;
/** Shortest absolute timeout, in seconds (as for ttl). */
export const MIN_ABSOLUTE = 10;

const HANDLE = /^[A-Za-z0-9_-]{22}$/;
// In a `u` regex a surrogate pair is one code point, so this matches lone surrogates only.
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/** An integer number, or a string of at most 15 digits; else undefined. */
function integer(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === "string" && /^\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

/**
 * Validates `absolute` (seconds from create to the session's end, whatever its activity): an
 * integer from 10 to 315360000, or undefined for none.
 */
export function validAbsolute(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = integer(value);
  if (n === undefined || n < MIN_ABSOLUTE || n > MAX_TTL) {
    throw errorOf(
      "ERS_INVALID_ABSOLUTE",
      `absolute must be an integer from ${MIN_ABSOLUTE} to ${MAX_TTL} seconds`,
    );
  }
  return n;
}

/**
 * Validates a user agent: a string (the request's header) cut to {@link MAX_UA_LENGTH} code
 * units at a code-point boundary, or undefined/"" for none. Other types are refused.
 */
export function validUa(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw errorOf("ERS_INVALID_UA", "ua must be a string");
  let ua = value.length > MAX_UA_LENGTH ? value.slice(0, MAX_UA_LENGTH) : value;
  // Never leave half of a surrogate pair at the cut (Redis would store U+FFFD).
  const last = ua.charCodeAt(ua.length - 1);
  if (ua.length === MAX_UA_LENGTH && last >= 0xd800 && last <= 0xdbff) ua = ua.slice(0, -1);
  // A lone surrogate elsewhere would not survive the trip to Redis either: replace it as it would.
  return ua.replace(LONE_SURROGATE, "\uFFFD");
}

/** Validates a rotation grace: an integer from 0 to 3600 seconds; undefined means 0. */
export function validGrace(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const n = integer(value);
  if (n === undefined || n < 0 || n > MAX_GRACE) {
    throw errorOf("ERS_INVALID_GRACE", `grace must be an integer from 0 to ${MAX_GRACE} seconds`);
  }
  return n;
}

/** Validates a session handle (see `sessionHandle`): 22 base64url characters. */
export function validHandle(value: unknown): string {
  if (typeof value !== "string" || value.length !== HANDLE_LENGTH || !HANDLE.test(value)) {
    throw errorOf("ERS_INVALID_HANDLE", "Invalid handle format");
  }
  return value;
}

/** Validates the optional `ip` of a read (the request's address, kept as the last ip). */
export function validLastIp(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  return validIp(value);
}
