import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  errorOf,
  isErrorCode,
  type RedisSessionsError,
  type StoreTarget,
  storeError,
} from "../errors.js";
import { type RedisClient, withDeadline } from "../redis-client.js";
import type { Milliseconds } from "../types.js";
import { tooLarge, tooManyKeys } from "../validate.js";

/** Arguments of a script call: ioredis sends numbers as their decimal text. */
export type ScriptArg = string | number;

/**
 * A Lua script run by EVALSHA, reloaded with EVAL when the server answers NOSCRIPT (after a
 * restart, a failover or SCRIPT FLUSH). It uses only the client's public `evalsha` and `eval`,
 * so any ioredis-compatible client (iovalkey) works.
 */
export class Script {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /**
   * Runs the script. With a `budget`, a NOSCRIPT fallback gets only what the EVALSHA left of it,
   * so the whole call settles within one timeout (the client would give the EVAL a fresh one).
   */
  async run(
    client: RedisClient,
    keys: readonly string[],
    args: readonly ScriptArg[],
    budget?: Milliseconds,
  ): Promise<unknown> {
    const started = budget === undefined ? 0 : performance.now();
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      const left =
        budget === undefined ? undefined : Math.floor(budget - (performance.now() - started));
      return withDeadline(client.eval(this.lua, keys.length, ...keys, ...args), left);
    }
  }
}

/**
 * Runs an engine's scripts and commands on one client: each script call within `budget`, and
 * every call within `deadline` when the client's own `commandTimeout` may not apply.
 */
export class Runner {
  constructor(
    readonly client: RedisClient,
    private readonly budget: Milliseconds,
    private readonly deadline: Milliseconds | undefined,
  ) {}

  run(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return withDeadline(script.run(this.client, keys, args, this.budget), this.deadline);
  }

  command<T>(op: (client: RedisClient) => Promise<T>): Promise<T> {
    return withDeadline(op(this.client), this.deadline);
  }
}

/*
 * Scripts refuse work with an error reply "ERS_<CODE> <detail>". This is the one place where such
 * a reply becomes a typed error; every other failure is Redis' own (a timeout, a refused
 * connection, OOM) and becomes a storeUnavailable error.
 */

const SCRIPT_ERROR = /(?:^|\s)(ERS_[A-Z_]+)(?: ([\s\S]*))?$/;

/** Builds the error of a code with the detail the script gave (a limit, a text). */
function fromScript(code: string, detail: string, cause: unknown): RedisSessionsError {
  if (code === "ERS_D_TOO_LARGE") return tooLarge(Number(detail));
  if (code === "ERS_D_TOO_MANY_KEYS") return tooManyKeys(Number(detail));
  // A code this version does not know is a bug, never "Redis is unavailable".
  if (!isErrorCode(code))
    return errorOf("ERS_INTERNAL", `Unexpected script error ${code}`, { cause });
  return errorOf(code, detail || code, { cause });
}

/**
 * Turns anything an engine call rejected with into a `RedisSessionsError`; `target` says which
 * Redis failed (see `storeError`).
 */
export function toStoreError(err: unknown, target?: StoreTarget): RedisSessionsError {
  const message = err instanceof Error ? err.message : "";
  const match = message.includes("ERS_") ? SCRIPT_ERROR.exec(message) : null;
  if (match) return fromScript(match[1] as string, match[2] ?? "", err);
  return storeError(err, target);
}
