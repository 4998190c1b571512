import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { type Cluster, Command, type Redis } from "ioredis";
import type { Milliseconds } from "./types.js";

/** An ioredis client: a standalone `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** A Lua script run by EVALSHA, reloaded with EVAL when the server answers NOSCRIPT. */
export class Script {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /**
   * Runs the script; after a restart or SCRIPT FLUSH the first call falls back to EVAL once.
   * With a `budget`, the EVAL gets only what the EVALSHA left of it, so the whole call stays
   * within one timeout (ioredis would give the EVAL a fresh `commandTimeout`).
   */
  async run(
    client: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
    budget?: Milliseconds,
  ): Promise<unknown> {
    const started = budget === undefined ? 0 : performance.now();
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      const command = new Command("eval", [this.lua, keys.length, ...keys, ...args], {
        replyEncoding: "utf8",
      });
      if (budget !== undefined) {
        const left = Math.floor(budget - (performance.now() - started));
        if (left <= 0) throw new Error("Command timed out");
        // The first timeout set on a command wins: ioredis' own commandTimeout comes second.
        command.setTimeout(left);
      }
      client.sendCommand(command);
      return command.promise;
    }
  }
}
