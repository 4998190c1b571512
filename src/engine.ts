import type { SessionReply } from "./session.js";
import type { DataEntry, DataLimits } from "./validate.js";

/**
 * What a key layout does with Redis. The store validates input, runs the cache and translates
 * errors; an engine only talks to Redis, one atomic script per operation. `now` is the clock
 * argument every script takes: unix seconds, or `""` for Redis' own `TIME`.
 *
 * Two engines exist: the redis-sessions layout (`compat`, src/compat-engine.ts) and the Redis
 * Cluster layout (`cluster`).
 */
export interface SessionEngine {
  /** The pub/sub channel that carries `{app}:{token}` invalidations. */
  readonly channel: string;
  /** The key of the wipe lease (one wiper at a time across processes). */
  readonly lease: string;
  /** A new token for a session of `id` (a layout may encode where the session lives). */
  token(app: string, id: string): string;
  /** A new token for the session that `token` names now (for rotate: same place, new name). */
  successor(app: string, token: string): string;
  create(
    now: string,
    app: string,
    token: string,
    session: { id: string; ip: string; ttl: number; d: string; noResave: boolean },
  ): Promise<void>;
  /** Reads a session; `count` also counts the read and refreshes activity. */
  get(now: string, app: string, token: string, count: boolean): Promise<SessionReply | null>;
  /** Refreshes activity of live sessions without counting a read. */
  touch(now: string, app: string, tokens: readonly string[]): Promise<number>;
  set(
    now: string,
    app: string,
    token: string,
    entries: readonly DataEntry[],
    limits: DataLimits,
  ): Promise<SessionReply | null>;
  /** 1 if a live session was ended. */
  kill(now: string, app: string, token: string): Promise<number>;
  /** True if the session moved to `next`. */
  rotate(now: string, app: string, token: string, next: string): Promise<boolean>;
  activity(now: string, app: string, deltaTime: number): Promise<number>;
  /** A flat list: token, session reply, token, session reply, … */
  soapp(now: string, app: string, deltaTime: number): Promise<unknown[]>;
  soid(now: string, app: string, id: string): Promise<unknown[]>;
  /** The live sessions ended and every token that was removed. */
  killsoid(now: string, app: string, id: string): Promise<{ kill: number; tokens: string[] }>;
  killall(now: string, app: string): Promise<number>;
  /** Removes expired sessions' keys; resolves to the number removed. */
  wipe(now: string): Promise<number>;
}

/**
 * The arguments of both layouts' `set` scripts: clock, a scope (namespace prefix or channel), app,
 * token, the limits, then a triple per change (key, key as JSON, value as JSON or "" to delete).
 */
export function setArguments(
  now: string,
  scope: string,
  app: string,
  token: string,
  entries: readonly DataEntry[],
  limits: DataLimits,
): (string | number)[] {
  const args: (string | number)[] = [now, scope, app, token, limits.maxBytes, limits.maxKeys];
  for (const e of entries) args.push(e.key, e.keyJson, e.valueJson ?? "");
  return args;
}
