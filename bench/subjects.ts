import v4module from "redis-sessions";
import { RedisSessions } from "../src/index.js";

/** The store operations the bench measures, in one shape for both stores. */
export interface Subject {
  create(id: string, ip: string): Promise<string>;
  get(token: string): Promise<boolean>;
  set(token: string, visits: number): Promise<boolean>;
  kill(token: string): Promise<number>;
  soid(id: string): Promise<number>;
  activity(): Promise<number>;
  killall(): Promise<number>;
  ping(): Promise<unknown>;
  quit(): Promise<void>;
}

/** Which store, and how it talks to Redis. */
export type SubjectKind = "v4" | "ours" | "ours-autopipelined";

/** The app name every bench session lives in. */
export const APP = "bench";

// redis-sessions is CommonJS with `exports.default`: Node hands the whole exports object over.
const RedisSessionsV4 = v4module.default;

/** A store of `kind` on `host:port` under its own namespace, without a wipe timer. */
export function makeSubject(
  kind: SubjectKind,
  host: string,
  port: number,
  namespace: string,
): Subject {
  const d = { name: "bench user", role: "member", visits: 0 };
  if (kind === "v4") {
    const rs = new RedisSessionsV4({ host, port, namespace, wipe: 0 });
    return {
      create: async (id, ip) => (await rs.create({ app: APP, id, ip, ttl: 3600, d })).token,
      get: async (token) => (await rs.get({ app: APP, token })) !== null,
      set: async (token, visits) => (await rs.set({ app: APP, token, d: { visits } })) !== null,
      // v4 types its counts as raw replies; they are numbers.
      kill: async (token) => Number((await rs.kill({ app: APP, token })).kill),
      soid: async (id) => (await rs.soid({ app: APP, id })).sessions.length,
      activity: async () => (await rs.activity({ app: APP, deltaTime: 3600 })).activity,
      killall: async () => Number((await rs.killall({ app: APP })).kill),
      ping: () => rs.ping(),
      quit: () => rs.quit(),
    };
  }
  const rs = new RedisSessions({
    redis: { host, port },
    autoPipelining: kind === "ours-autopipelined",
    namespace,
    wipe: 0,
  });
  return {
    create: async (id, ip) => (await rs.create({ app: APP, id, ip, ttl: 3600, d })).token,
    get: async (token) => (await rs.get({ app: APP, token })) !== null,
    set: async (token, visits) => (await rs.set({ app: APP, token, d: { visits } })) !== null,
    kill: async (token) => (await rs.kill({ app: APP, token })).kill,
    soid: async (id) => (await rs.soid({ app: APP, id })).sessions.length,
    activity: async () => (await rs.activity({ app: APP, deltaTime: 3600 })).activity,
    killall: async () => (await rs.killall({ app: APP })).kill,
    ping: () => rs.ping(),
    quit: () => rs.quit(),
  };
}
