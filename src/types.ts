import type { DataValue } from "./validate.js";

/**
 * The shape of a session's `d`. Augment it to type `d` everywhere:
 *
 * ```ts
 * declare module "express-redis-sessions" {
 *   interface SessionData { name: string; plan: "free" | "pro" }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: an interface users augment by declaration merging
export interface SessionData {}

/** A flat object of strings, numbers, booleans and nulls: what redis-sessions can store in `d`. */
export type Data = Record<string, DataValue>;

/** `SessionData` when the app has augmented it, otherwise any flat object. */
export type DefaultData = keyof SessionData extends never ? Data : SessionData;

/** A partial change to `d`: `null` deletes a key, absent keys are left alone. */
export type DataPatch<D> = { [K in keyof D]?: D[K] | null };

/** Seconds (Redis ttls, `deltaTime`, `wipe`, `cachetime`). */
export type Seconds = number;
/** Milliseconds (timeouts). */
export type Milliseconds = number;

/** A session as redis-sessions returns it, key order included. */
export interface Session<D = DefaultData> {
  /** The user id given at create. */
  id: string;
  /** Reads before this one. */
  r: number;
  /** Writes so far. */
  w: number;
  /** Idle timeout in seconds; with `no_resave`, the seconds left. */
  ttl: Seconds;
  /** Seconds since the last activity. */
  idle: Seconds;
  /** The ip given at create. */
  ip: string;
  /** Present (and true) for sessions created with `no_resave`. */
  no_resave?: true;
  /** The data; absent when empty. */
  d?: D;
  /**
   * Created, unix seconds (`ct`; for sessions of other clients, from a redis-sessions token's
   * timestamp when it has one). Absent when unknown.
   */
  created?: number;
  /** The last authentication, unix seconds (`au`: create, then `reauthenticated`). */
  auth?: number;
  /** The absolute end, unix seconds (`ab`), for sessions created with `absolute`. */
  expires?: number;
  /** The user agent given at create (at most 512 characters). */
  ua?: string;
}

/** A session in a `soid` or `soapp` list: also carries its token, so one device can be revoked. */
export type SessionWithToken<D = DefaultData> = Session<D> & { token: string };

/**
 * A session in a `soid` or `soapp` list: its token and its handle, a non-secret name of it (see
 * `sessionHandle`) that device lists show and kill-by-handle takes.
 */
export type SessionEntry<D = DefaultData> = SessionWithToken<D> & { handle: string };

/** Parameters of {@link RedisSessions.create}. */
export interface CreateParams<D = DefaultData> {
  app: string;
  /** The user id; numbers are turned into strings. */
  id: string | number;
  ip: string;
  /** Idle timeout in seconds, an integer from 10 to 315360000 (ten years). @default 7200 */
  ttl?: Seconds | string | undefined;
  d?: Partial<D> | DataPatch<D> | undefined;
  /** Keep the expiry fixed at create + ttl instead of sliding it on each access. */
  no_resave?: boolean | undefined;
  /** The user agent (a string; cut to 512 characters). @default none */
  ua?: string | undefined;
  /**
   * Absolute timeout: the session ends this many seconds after create, whatever its activity
   * (an integer from 10 to 315360000). A Redis expiry on the session binds every client.
   * @default none (only the idle `ttl`)
   */
  absolute?: Seconds | undefined;
}

/** `{app, token}` */
export interface TokenParams {
  app: string;
  token: string;
}

/** `{app, deltaTime}`; redis-sessions v3's `dt` is accepted too. */
export interface DeltaParams {
  app: string;
  deltaTime?: Seconds | string | undefined;
  dt?: Seconds | string | undefined;
}

/** `{app, id}` */
export interface IdParams {
  app: string;
  id: string | number;
}

/**
 * The paged form of soapp and soid: at most `limit` sessions (1–1000) from where `cursor` (a
 * previous page's) points; no cursor for the first page.
 */
export interface PageParams {
  limit: number | string;
  cursor?: string | null | undefined;
}

/**
 * One page of a listing and the cursor to the next one; `cursor` is null after the last page.
 * A page may hold fewer than `limit` sessions (expired ones are skipped) before the end.
 */
export interface SessionPage<D = DefaultData> {
  sessions: SessionEntry<D>[];
  cursor: string | null;
}
