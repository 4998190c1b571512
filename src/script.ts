import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

/** An ioredis client: a standalone `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** A Lua script run by EVALSHA, reloaded with EVAL when the server answers NOSCRIPT. */
export class Script {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /** Runs the script; after a restart or SCRIPT FLUSH the first call falls back to EVAL once. */
  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]) {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
