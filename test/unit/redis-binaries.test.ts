import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clusterUnsupported } from "../helpers/redis-cluster.js";
import { findRedisServer, findRedisTool } from "../helpers/redis-server.js";

/*
 * The test harness finds the server and its tools under Redis' names or Valkey's: on a host with
 * only valkey-server and valkey-cli, the tests must use them, not skip or pick another binary.
 * A Valkey install is stood in for by links named valkey-* to this machine's binaries.
 */

const real = { server: findRedisServer(), cli: findRedisTool("cli") };
const saved = { PATH: process.env.PATH, REDIS_SERVER_BIN: process.env.REDIS_SERVER_BIN };
const dirs: string[] = [];

/** A directory holding links `<family>-server` and `<family>-cli`. */
function install(family: "redis" | "valkey"): string {
  const dir = mkdtempSync(join(tmpdir(), `ers-${family}-`));
  dirs.push(dir);
  symlinkSync(real.server, join(dir, `${family}-server`));
  if (real.cli) symlinkSync(real.cli, join(dir, `${family}-cli`));
  return dir;
}

beforeEach(() => {
  delete process.env.REDIS_SERVER_BIN;
});

afterEach(() => {
  process.env.PATH = saved.PATH;
  if (saved.REDIS_SERVER_BIN === undefined) delete process.env.REDIS_SERVER_BIN;
  else process.env.REDIS_SERVER_BIN = saved.REDIS_SERVER_BIN;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("finding redis-server or valkey-server", () => {
  it("uses valkey-server and valkey-cli when they come first on PATH", () => {
    const valkey = install("valkey");
    const redis = install("redis");
    process.env.PATH = [valkey, redis, saved.PATH].join(delimiter);
    expect(findRedisServer()).toBe(join(valkey, "valkey-server"));
    expect(findRedisTool("cli")).toBe(real.cli ? join(valkey, "valkey-cli") : undefined);
    expect(clusterUnsupported()).toBe(real.cli ? undefined : expect.any(String));
  });

  it("still prefers redis-server when it comes first", () => {
    const redis = install("redis");
    const valkey = install("valkey");
    process.env.PATH = [redis, valkey, saved.PATH].join(delimiter);
    expect(findRedisServer()).toBe(join(redis, "redis-server"));
  });

  it("takes the cli that belongs to the server: valkey-cli beside valkey-server", () => {
    const valkey = install("valkey");
    const redis = install("redis");
    process.env.PATH = [redis, saved.PATH].join(delimiter);
    process.env.REDIS_SERVER_BIN = join(valkey, "valkey-server");
    expect(findRedisServer()).toBe(join(valkey, "valkey-server"));
    expect(findRedisTool("cli")).toBe(real.cli ? join(valkey, "valkey-cli") : undefined);
  });
});
