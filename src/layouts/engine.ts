import { commandTimeoutOf, isCluster, type RedisClient } from "../redis-client.js";
import type { Milliseconds } from "../types.js";
import type { DataEntry, DataLimits } from "../validate.js";
import { ClusterEngine } from "./cluster/engine.js";
import { CompatEngine } from "./compat/engine.js";
import type { KeyLayout } from "./compat/keys.js";
import type { KillTarget, NewSession, WipeResult } from "./engine-types.js";
import type { ListPage } from "./listing.js";
import type { SessionReply } from "./reply.js";
import { Runner, type ScriptArg } from "./script.js";

export type { KillTarget, NewSession, WipedSession, WipeResult } from "./engine-types.js";

/**
 * What a key layout does with Redis. The store validates input, runs the cache and types
 * errors; an engine only talks to Redis, one atomic script per operation (app-wide operations in
 * bounded batches). Two engines exist: the redis-sessions layout (`compat`) and the Redis Cluster
 * layout (`cluster`).
 */
export interface SessionEngine {
  /** A compat-shaped view of the key names, for tools (the app list, tests). */
  readonly keys: KeyLayout;
  /** The pub/sub channel that carries `{app}:{token}` invalidations. */
  readonly channel: string;
  /** A new token for a session of `id` (a layout may encode where the session lives). */
  token(app: string, id: string): string;
  /** A new token for the session that `token` names now (for rotate: same place, new name). */
  successor(app: string, token: string): string;
  /** Creates a session; resolves to the tokens of sessions its id's cap evicted. */
  create(app: string, token: string, session: NewSession): Promise<string[]>;
  /**
   * Reads a session, counts the read and refreshes its activity (see `touchAfter`), keeping `ip`
   * (when given) as its last one. Follows a rotation alias: the reply then has 1 at index 12.
   */
  get(app: string, token: string, ip?: string): Promise<SessionReply | null>;
  /**
   * Refreshes activity of live sessions without counting a read. Resolves to the tokens that may
   * have no live session any more (deleted, flushed, evicted or expired), so a cache can drop
   * them: exactly those when the script lists them, else every token of a batch that touched
   * fewer sessions than it was given.
   */
  touch(app: string, tokens: readonly string[]): Promise<string[]>;
  set(
    app: string,
    token: string,
    entries: readonly DataEntry[],
    limits: DataLimits,
  ): Promise<SessionReply | null>;
  /** 1 if a live session was ended; with `id`, only a session of that id is. */
  kill(app: string, token: string, id?: string): Promise<number>;
  /**
   * Moves the session to `next`; with a grace, `token` stays an alias of it that long.
   * Resolves to the session's id and the token it was moved from, or null when it is gone.
   */
  rotate(
    app: string,
    token: string,
    next: string,
    grace: number,
  ): Promise<{ id: string; from: string } | null>;
  /** Sets the last authentication to now; the session, or null. */
  reauthenticated(app: string, token: string): Promise<SessionReply | null>;
  /** The session's CSRF token, `candidate` written first when it has none; null: no session. */
  csrfToken(app: string, token: string, candidate: string): Promise<string | null>;
  activity(app: string, deltaTime: number): Promise<number>;
  /** Sessions indexed as active within deltaTime (expired ones not yet wiped included). */
  countSessions(app: string, deltaTime: number): Promise<number>;
  /** Every session active within deltaTime, most recent first: token, reply, token, reply, … */
  soapp(app: string, deltaTime: number): Promise<unknown[]>;
  /** One page of soapp, most recent first, and the cursor to the next one (null: the end). */
  soappPage(
    app: string,
    deltaTime: number,
    limit: number,
    cursor: string | null,
  ): Promise<ListPage>;
  /** Every live session of one id: token, reply, … */
  soid(app: string, id: string): Promise<unknown[]>;
  /** One page of soid. */
  soidPage(app: string, id: string, limit: number, cursor: string | null): Promise<ListPage>;
  /** The live sessions ended and every token that was removed. */
  killsoid(app: string, id: string): Promise<{ kill: number; tokens: string[] }>;
  killall(app: string): Promise<number>;
  /** Removes expired sessions' keys; resolves to the number removed and which they were. */
  wipe(): Promise<WipeResult>;
  /** Takes the wipe lease (one wiper at a time across processes) for `ms`; true if taken. */
  takeLease(owner: string, ms: Milliseconds): Promise<boolean>;
  /** Keys whose slots a kill wrote, for `durableKill`'s WAIT (none on one Redis). */
  writtenKeys(app: string, target: KillTarget): string[];
  /** `"PONG"` when Redis answers. */
  ping(): Promise<string>;
}

/** What an engine is built from. */
export interface EngineConfig {
  client: RedisClient;
  namespace: string;
  /** "Now" for the scripts: unix seconds as text, or `""` for Redis' own `TIME`. */
  clock: () => string;
  /** The budget of one call (EVALSHA and a NOSCRIPT fallback together). */
  timeout: Milliseconds;
  /** Cluster layout: hash tags per app. */
  buckets: number;
  /** Seconds of idleness before a read refreshes activity (0: every read, as redis-sessions). */
  touchAfter?: number;
}

/**
 * The engine of a layout. A client whose commands may wait where its own `commandTimeout` does
 * not apply (a Cluster's offline queue, or a client given without a commandTimeout) gets a
 * deadline on every call as well.
 */
export function createEngine(layout: "compat" | "cluster", config: EngineConfig): SessionEngine {
  const own = commandTimeoutOf(config.client);
  const deadline =
    isCluster(config.client) || own === undefined
      ? config.timeout + (own === undefined ? 0 : 100)
      : undefined;
  const runner = new Runner(config.client, config.timeout, deadline);
  return layout === "compat"
    ? new CompatEngine(runner, config.namespace, config.clock, config.touchAfter)
    : new ClusterEngine(runner, config.namespace, config.buckets, config.clock, config.touchAfter);
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
): ScriptArg[] {
  const args: ScriptArg[] = [now, scope, app, token, limits.maxBytes, limits.maxKeys];
  for (const e of entries) args.push(e.key, e.keyJson, e.valueJson ?? "");
  return args;
}
