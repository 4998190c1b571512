import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendError, unauthorized } from "./errors.js";

/** A Connect/Express middleware in Node's own types, so it runs under any framework. */
export type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Normalizes the `apiKey` option to a list of keys. Several keys allow rotation: add the new
 * key, move clients over, then remove the old one.
 * @throws {TypeError} when a key is not a non-empty string.
 */
export function apiKeyList(apiKey: string | readonly string[] | undefined): string[] {
  if (apiKey === undefined) return [];
  const keys = typeof apiKey === "string" ? [apiKey] : [...apiKey];
  // An empty list is a configuration mistake (an unset variable split into nothing), not a
  // request for open routes: only an absent apiKey means "no key".
  if (keys.length === 0) {
    throw new TypeError(
      'express-redis-sessions: option "apiKey" must not be an empty list (leave it out for no key)',
    );
  }
  for (const key of keys) {
    if (typeof key !== "string" || key.length === 0 || key.trim() !== key) {
      throw new TypeError(
        'express-redis-sessions: option "apiKey" must be a non-empty string (or a list of them) without surrounding spaces',
      );
    }
  }
  return keys;
}

/** The key a request presents: `x-api-key`, else `Authorization: Bearer <key>`. */
export function presentedKey(req: IncomingMessage): string | undefined {
  const header = req.headers["x-api-key"];
  if (typeof header === "string" && header !== "") return header;
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * A checker that compares a presented key with every configured key in constant time: both
 * sides are hashed to 32 bytes first (so lengths leak nothing) and every key is compared, even
 * after a match.
 */
export function keyChecker(keys: readonly string[]): (candidate: string | undefined) => boolean {
  const digests = keys.map(digest);
  return (candidate) => {
    const presented = digest(candidate ?? "");
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(presented, d) || ok;
    return ok && candidate !== undefined;
  };
}

/** A middleware that answers 401 unless the request presents one of `keys`. */
export function requireApiKey(keys: readonly string[]): Middleware {
  const check = keyChecker(keys);
  return (req, res, next) => {
    if (check(presentedKey(req))) next();
    else sendError(res, unauthorized());
  };
}
