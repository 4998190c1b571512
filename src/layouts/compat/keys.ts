/**
 * Where a session lives in Redis. The compat layout is redis-sessions' own (v1–v4), byte for byte:
 *
 * | key                    | type | content                                                |
 * |------------------------|------|--------------------------------------------------------|
 * | `{ns}:{app}:{token}`   | hash | id r w ip la ttl [d] [no_resave]                       |
 * | `{ns}:{app}:_sessions` | zset | `{token}:{id}` scored by last activity (unix seconds)  |
 * | `{ns}:{app}:_users`    | zset | `{id}` scored by last activity                         |
 * | `{ns}:{app}:us:{id}`   | set  | the tokens of one id                                   |
 * | `{ns}:SESSIONS`        | zset | `{app}:{token}:{id}` scored by expiry (unix seconds)   |
 *
 * Invalidations go to the pub/sub channel `{ns}:cache` as `{app}:{token}`. Everything that knows
 * key names lives here, so that another layout can be added without touching the store.
 */
export interface KeyLayout {
  /** The namespace prefix, with its trailing colon (`rs:`). */
  readonly prefix: string;
  /** The prefix of one app's keys (`rs:{app}:`). */
  appPrefix(app: string): string;
  session(app: string, token: string): string;
  sessions(app: string): string;
  users(app: string): string;
  user(app: string, id: string): string;
  /** The global expiry index (`rs:SESSIONS`). */
  expiries(): string;
  /** The pub/sub channel for cache invalidation (`rs:cache`). */
  cacheChannel(): string;
  /** The lease that lets one process at a time wipe (`rs:_wipelock`; not a redis-sessions key). */
  wipeLease(): string;
}

/** The redis-sessions layout. `namespace ?? "rs"` as v4 does, so `""` gives the prefix `":"`. */
export function compatLayout(namespace = "rs"): KeyLayout {
  const prefix = `${namespace}:`;
  return {
    prefix,
    appPrefix: (app) => `${prefix}${app}:`,
    session: (app, token) => `${prefix}${app}:${token}`,
    sessions: (app) => `${prefix}${app}:_sessions`,
    users: (app) => `${prefix}${app}:_users`,
    user: (app, id) => `${prefix}${app}:us:${id}`,
    expiries: () => `${prefix}SESSIONS`,
    cacheChannel: () => `${prefix}cache`,
    wipeLease: () => `${prefix}_wipelock`,
  };
}
