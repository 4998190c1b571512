import { createRequire } from "node:module";

/** A parameter object, as both stores take them (named parameters). */
export type Params = Record<string, unknown>;
/** A session or any other reply object. */
export type Reply = Record<string, unknown>;

/** The API that redis-sessions 4.0.0 and our store share, loosely typed to drive both alike. */
export interface SessionsApi {
  create(p: Params): Promise<{ token: string }>;
  get(p: Params): Promise<Reply | null>;
  set(p: Params): Promise<Reply | null>;
  kill(p: Params): Promise<{ kill: number }>;
  killsoid(p: Params): Promise<{ kill: number }>;
  killall(p: Params): Promise<{ kill: number }>;
  soid(p: Params): Promise<{ sessions: Reply[] }>;
  soapp(p: Params): Promise<{ sessions: Reply[] }>;
  activity(p: Params): Promise<{ activity: number }>;
  quit(): Promise<void>;
}

interface NodeRedisClient {
  isOpen: boolean;
  disconnect(): Promise<void>;
}

/** redis-sessions 4.0.0 as plain JS sees it: its API plus the internals these tests drive. */
export interface V4Sessions extends SessionsApi {
  /** Its only source of time (unix seconds); tests replace it on the instance with a fake clock. */
  _now: () => number;
  /** One run of its wiper. */
  _wipe: () => Promise<void>;
  redis: NodeRedisClient;
  redissub: NodeRedisClient | null;
}

/** redis-sessions 4.0.0's constructor options. */
export interface V4Options {
  options?: { url?: string };
  host?: string;
  port?: number;
  namespace?: string;
  wipe?: number;
  cachetime?: number;
  cachemax?: number;
}

const require = createRequire(import.meta.url);

/** The real redis-sessions 4.0.0 class (a CommonJS module with `exports.default`). */
export const V4RedisSessions = (
  require("redis-sessions") as { default: new (options?: V4Options) => V4Sessions }
).default;

/**
 * Opens a redis-sessions 4.0.0 store on `url` without a wiper. With `clock`, it reads time from
 * the given function instead of `Date.now()`, so that its scores and `la` can equal ours exactly.
 */
export function openV4(
  url: string,
  namespace: string,
  options: { clock?: () => number; cachetime?: number } = {},
): V4Sessions {
  const rs = new V4RedisSessions({
    options: { url },
    namespace,
    wipe: 0,
    cachetime: options.cachetime ?? 0,
  });
  const clock = options.clock;
  if (clock) rs._now = () => clock();
  return rs;
}

/** Closes a redis-sessions 4.0.0 store fully: its `quit()` leaves the cache subscriber open. */
export async function closeV4(rs: V4Sessions): Promise<void> {
  await rs.quit();
  if (rs.redissub?.isOpen) await rs.redissub.disconnect();
}
