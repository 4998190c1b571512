/*
 * Declarations for `redis-errors`, the error classes of ioredis. ioredis 6.1's own declarations
 * import it, but it ships no types (and @types/redis-errors is not a dependency of ioredis): a
 * consumer's `tsc` under `strict` with `skipLibCheck: false` would fail with TS7016 inside
 * node_modules/ioredis. An ambient module declaration satisfies that import wherever ioredis is
 * installed (npm, pnpm, yarn). src/index.ts references it, and so does dist/index.d.ts, as
 * ../types/redis-errors.d.ts: this folder ships in the package.
 */
declare module "redis-errors" {
  /** The base class of every Redis error. */
  export class RedisError extends Error {}
  /** The reply parser met a malformed reply. */
  export class ParserError extends RedisError {
    constructor(message: string, buffer: Uint8Array, offset: number);
    offset: number;
    buffer: Uint8Array;
  }
  /** An error reply of the server (`-ERR …`). */
  export class ReplyError extends RedisError {}
  /** A command that was never answered (connection closed, retries exhausted). */
  export class AbortError extends RedisError {}
  /** A command interrupted while in flight. */
  export class InterruptError extends AbortError {}
}
