import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  isErrorCode,
  isStoreError,
  RedisSessionsError,
  type StoreTarget,
  storeError,
} from "../../src/errors.js";
import { toStoreError } from "../../src/layouts/script.js";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [join(dir, e.name)]
        : [],
  );
}

/** Every `ERS_…` code written anywhere in the sources, Lua scripts included. */
const mentioned = new Set(
  sources(SRC)
    .flatMap((file) => [...readFileSync(file, "utf8").matchAll(/\bERS_[A-Z_]*[A-Z](?![A-Z_$])/g)])
    .map((m) => m[0]),
);

describe("error codes", () => {
  it("every code in the sources, Lua error replies included, is in the catalogue", () => {
    // The REST server's own codes are in its RestErrorCode type, not in the store's catalogue.
    const rest = [
      "ERS_UNAUTHORIZED",
      "ERS_NOT_FOUND",
      "ERS_INVALID_JSON",
      "ERS_BODY_TOO_LARGE",
      "ERS_UNSUPPORTED_MEDIA_TYPE",
      "ERS_BAD_REQUEST",
      "ERS_FORBIDDEN_HOST",
      "ERS_FORBIDDEN_ORIGIN",
    ];
    expect([...mentioned].filter((code) => !isErrorCode(code) && !rest.includes(code))).toEqual([]);
    expect(mentioned.size).toBeGreaterThan(20);
  });

  it.each([
    ["ERS_D_TOO_LARGE 65536", "ERS_D_TOO_LARGE", 413, "d must not be larger than 65536 bytes"],
    ["ERS_D_TOO_MANY_KEYS 256", "ERS_D_TOO_MANY_KEYS", 413, "d must not have more than 256 keys"],
    ["ERS_TOKEN_COLLISION token already in use", "ERS_TOKEN_COLLISION", 409, "token already"],
    ["ERS_INVALID_D d stored in Redis is not a JSON object", "ERS_INVALID_D", 400, "not a JSON"],
    ["ERS_BUCKETS_MISMATCH app has 16 buckets", "ERS_BUCKETS_MISMATCH", 500, "16 buckets"],
    ["ERS_NO_SUCH_CODE something", "ERS_INTERNAL", 500, "ERS_NO_SUCH_CODE"],
  ])("a script's error reply %j becomes %s with status %d", (reply, code, status, text) => {
    const err = toStoreError(new Error(reply));
    expect(err).toBeInstanceOf(RedisSessionsError);
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.message).toContain(text);
    // Only a failure of Redis itself may be read as "Redis is unavailable".
    expect(isStoreError(err)).toBe(false);
  });

  it.each([
    ["Command timed out", "ERS_STORE_TIMEOUT"],
    ["OOM command not allowed when used memory > 'maxmemory'.", "ERS_STORE_OUT_OF_MEMORY"],
    ["connect ECONNREFUSED 127.0.0.1:1", "ERS_STORE_UNAVAILABLE"],
  ])("a failure of Redis itself (%s) becomes %s, status 503", (message, code) => {
    const err = toStoreError(new Error(message));
    expect(err.code).toBe(code);
    expect(err.status).toBe(503);
    expect(isStoreError(err)).toBe(true);
  });
});

describe("store errors name the Redis that failed and why", () => {
  const GAVE_UP =
    'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.';
  const target = (last: string | undefined, owned = true): StoreTarget => ({
    describe: () => "Redis at 10.0.0.5:6380",
    lastError: () => last,
    owned,
  });

  it("a command the store's client gave up on says where and why, not which option to tune", () => {
    const cause = new Error(GAVE_UP);
    const err = storeError(cause, target("connect ECONNREFUSED 10.0.0.5:6380"));
    expect(err.message).toBe(
      "Redis at 10.0.0.5:6380 is unavailable: connect ECONNREFUSED 10.0.0.5:6380",
    );
    expect(err.code).toBe("ERS_STORE_UNAVAILABLE");
    expect(err.cause).toBe(cause);
    expect(storeError(cause, target(undefined)).message).toBe(
      "Redis at 10.0.0.5:6380 is unavailable: no connection",
    );
  });

  it("keeps ioredis' message for a client the app owns (its retries are the app's option)", () => {
    const err = storeError(new Error(GAVE_UP), target(undefined, false));
    expect(err.message).toBe(`Redis at 10.0.0.5:6380 is unavailable: ${GAVE_UP}`);
  });

  it("a timeout names the Redis and the last connection error", () => {
    const err = storeError(new Error("Command timed out"), target("connect ETIMEDOUT"));
    expect(err.code).toBe("ERS_STORE_TIMEOUT");
    expect(err.message).toBe(
      "Redis at 10.0.0.5:6380 did not answer in time: Command timed out; last connection error: connect ETIMEDOUT",
    );
  });
});
