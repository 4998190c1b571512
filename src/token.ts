import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// 248 = 4 × 62: bytes at or above it are dropped so that every character is equally likely.
const LIMIT = 248;

/**
 * A new session token: 64 characters of `[0-9A-Za-z]` from `node:crypto` (about 381 bits),
 * without a timestamp, accepted by every redis-sessions version.
 */
export function createToken(): string {
  let token = "";
  while (token.length < 64) {
    const bytes = randomBytes(80);
    for (let i = 0; i < bytes.length && token.length < 64; i++) {
      const b = bytes[i] as number;
      if (b < LIMIT) token += ALPHABET[b % 62];
    }
  }
  return token;
}
