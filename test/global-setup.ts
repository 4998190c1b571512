import type { TestProject } from "vitest/node";
import { type RedisServer, startRedisServer } from "./helpers/redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let server: RedisServer | undefined;

/** Starts one private redis-server for the whole run, unless REDIS_URL names one. */
export async function setup(project: TestProject): Promise<void> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    project.provide("redisUrl", fromEnv);
    return;
  }
  server = await startRedisServer();
  project.provide("redisUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
