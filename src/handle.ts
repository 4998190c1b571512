import { createHash } from "node:crypto";

/** The prefix hashed with a token, so that a handle is useless as anything else's digest. */
const HANDLE_CONTEXT = "express-redis-sessions handle:";

/** A handle's length: 22 base64url characters (132 bits). */
export const HANDLE_LENGTH = 22;

/**
 * A non-secret name of a session: base64url of SHA-256("express-redis-sessions handle:" + token),
 * its first 22 characters. It names a session in device lists and kill-by-handle; knowing it
 * never grants the session (SHA-256 is one-way).
 */
export function sessionHandle(token: string): string {
  return createHash("sha256")
    .update(HANDLE_CONTEXT + token, "utf8")
    .digest("base64url")
    .slice(0, HANDLE_LENGTH);
}

/** Earliest and latest creation time a legacy token may carry (2000-01-01 to 2100-01-01). */
const LEGACY_MIN_MS = 946_684_800_000;
const LEGACY_MAX_MS = 4_102_444_800_000;

/**
 * The creation time, in unix seconds, that a redis-sessions v1–v4 or Elixir-port token carries
 * (55 characters, `Z`, the creation time in base-36 milliseconds), or undefined for other tokens.
 * Used for sessions written without `ct`; never written back.
 */
export function legacyCreated(token: string): number | undefined {
  if (token.length !== 64 || token[55] !== "Z") return undefined;
  const tail = token.slice(56);
  if (!/^[0-9a-z]{8}$/.test(tail)) return undefined;
  const ms = Number.parseInt(tail, 36);
  if (ms < LEGACY_MIN_MS || ms > LEGACY_MAX_MS) return undefined;
  return Math.floor(ms / 1000);
}
