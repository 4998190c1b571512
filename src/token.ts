import { randomBytes } from "node:crypto";

/** The characters of a token, in the order the cluster layout reads a bucket number from them. */
export const TOKEN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// 248 = 4 × 62: bytes at or above it are dropped so that every character is equally likely.
const LIMIT = 248;

/** `n` characters of `[0-9A-Za-z]` from `node:crypto`, each equally likely. */
export function randomAlnum(n: number): string {
  let out = "";
  while (out.length < n) {
    const bytes = randomBytes(n + 16);
    for (let i = 0; i < bytes.length && out.length < n; i++) {
      const b = bytes[i] as number;
      if (b < LIMIT) out += TOKEN_ALPHABET[b % 62];
    }
  }
  return out;
}

/**
 * A new session token: 64 characters of `[0-9A-Za-z]` from `node:crypto` (about 381 bits),
 * without a timestamp, accepted by every redis-sessions version.
 */
export function createToken(): string {
  return randomAlnum(64);
}
