import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, release, totalmem, type } from "node:os";
import { fileURLToPath } from "node:url";
import { findRedisServer } from "../test/helpers/redis-server.js";
import { redisBenchmarkBin } from "./ceiling.js";

/** Where and with what the figures were measured. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  redisServer: string;
  redisBenchmark: string;
  packages: Record<string, string>;
  date: string;
}

const root = fileURLToPath(new URL("../", import.meta.url));

function version(dir: string): string {
  try {
    const pkg = JSON.parse(readFileSync(`${root}node_modules/${dir}/package.json`, "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "?";
  } catch {
    return "?";
  }
}

function firstLine(bin: string, args: string[]): string {
  try {
    return execFileSync(bin, args, { encoding: "utf8" }).trim().split("\n")[0]!;
  } catch {
    return "?";
  }
}

/** CPU, core count, OS, Node, Redis and the versions of every package compared. */
export function machine(): Machine {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? "?",
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    redisServer: firstLine(findRedisServer(), ["--version"]),
    redisBenchmark: firstLine(redisBenchmarkBin(), ["--version"]),
    packages: {
      ioredis: version("ioredis"),
      "redis-sessions": version("redis-sessions"),
      "redis (node-redis, used by redis-sessions)": version("redis-sessions/node_modules/redis"),
      express: version("express"),
      "express-session": version("express-session"),
      "connect-redis": version("connect-redis"),
      "redis (node-redis, used by connect-redis)": version("redis"),
      autocannon: version("autocannon"),
    },
    date: new Date().toISOString(),
  };
}
