import v4module from "redis-sessions";
import { migrateCommand } from "../src/cli/migrate.js";
import { RedisSessions } from "../src/index.js";
import { APP } from "./subjects.js";

/** The stores the scale bench compares: redis-sessions 4.0.0 and ours in both key layouts. */
export const SCALE_KINDS = ["v4", "compat", "cluster"] as const;
export type ScaleKind = (typeof SCALE_KINDS)[number];

export const SCALE_LABELS: Record<ScaleKind, string> = {
  v4: "redis-sessions 4.0.0",
  compat: "ours, compat layout",
  cluster: "ours, cluster layout (one Redis)",
};

/** Every operation the scale bench runs, in one shape for the three stores. */
export interface ScaleSubject {
  create(id: string, ip: string, ttl: number): Promise<string>;
  get(token: string): Promise<boolean>;
  set(token: string, visits: number): Promise<boolean>;
  kill(token: string): Promise<number>;
  activity(deltaTime: number): Promise<number>;
  soid(id: string): Promise<number>;
  soapp(deltaTime: number): Promise<number>;
  killsoid(id: string): Promise<number>;
  killall(): Promise<number>;
  /** Runs the wipe with its clock `ahead` seconds on, until it finds nothing more to remove. */
  wipeAhead(ahead: number): Promise<number>;
  /**
   * `express-redis-sessions migrate --dry-run` over this store's sessions (read and count,
   * write nothing); resolves to the sessions it would copy. Absent for v4, which has no migrate.
   */
  migrateReads?: () => Promise<number>;
  quit(): Promise<void>;
}

const D = { name: "bench user", role: "member", visits: 0 };

// redis-sessions is CommonJS with `exports.default`: Node hands the whole exports object over.
const RedisSessionsV4 = v4module.default;

/** The part of redis-sessions 4.0.0 that its typings keep private: its wipe and its clock. */
interface V4Internals {
  _wipe(): Promise<void>;
  _now(): number;
  redis: { zCard(key: string): Promise<number> };
}

function v4Subject(host: string, port: number, namespace: string): ScaleSubject {
  const rs = new RedisSessionsV4({ host, port, namespace, wipe: 0 });
  return {
    create: async (id, ip, ttl) => (await rs.create({ app: APP, id, ip, ttl, d: D })).token,
    get: async (token) => (await rs.get({ app: APP, token })) !== null,
    set: async (token, visits) => (await rs.set({ app: APP, token, d: { visits } })) !== null,
    kill: async (token) => Number((await rs.kill({ app: APP, token })).kill),
    activity: async (deltaTime) => (await rs.activity({ app: APP, deltaTime })).activity,
    soid: async (id) => (await rs.soid({ app: APP, id })).sessions.length,
    soapp: async (deltaTime) => (await rs.soapp({ app: APP, deltaTime })).sessions.length,
    killsoid: async (id) => Number((await rs.killsoid({ app: APP, id })).kill),
    killall: async () => Number((await rs.killall({ app: APP })).kill),
    async wipeAhead(ahead) {
      // v4's wipe takes "now" from Date.now() in the client: move that clock for this instance.
      const internals = rs as unknown as V4Internals;
      // Its wipe reports nothing: count the global index before and after.
      const count = () => internals.redis.zCard(`${namespace}:SESSIONS`);
      const before = await count();
      const now = internals._now.bind(rs);
      internals._now = () => now() + ahead;
      try {
        await internals._wipe();
      } finally {
        internals._now = now;
      }
      return before - (await count());
    },
    quit: () => rs.quit(),
  };
}

function oursSubject(
  layout: "compat" | "cluster",
  host: string,
  port: number,
  namespace: string,
): ScaleSubject {
  const options = { redis: { host, port }, namespace, wipe: 0, layout } as const;
  const rs = new RedisSessions(options);
  const url = `redis://${host}:${port}`;
  return {
    create: async (id, ip, ttl) => (await rs.create({ app: APP, id, ip, ttl, d: D })).token,
    get: async (token) => (await rs.get({ app: APP, token })) !== null,
    set: async (token, visits) => (await rs.set({ app: APP, token, d: { visits } })) !== null,
    kill: async (token) => (await rs.kill({ app: APP, token })).kill,
    activity: async (deltaTime) => (await rs.activity({ app: APP, deltaTime })).activity,
    soid: async (id) => (await rs.soid({ app: APP, id })).sessions.length,
    soapp: async (deltaTime) => (await rs.soapp({ app: APP, deltaTime })).sessions.length,
    killsoid: async (id) => (await rs.killsoid({ app: APP, id })).kill,
    killall: async () => (await rs.killall({ app: APP })).kill,
    async wipeAhead(ahead) {
      // A second store whose clock runs `ahead` seconds on: to it, those sessions have expired.
      const later = new RedisSessions({ ...options, clock: () => Date.now() / 1000 + ahead });
      try {
        // The cluster layout wipes the apps its process has used: use this one first.
        await later.activity({ app: APP, deltaTime: 60 });
        let removed = 0;
        for (let n = await later.wipe(); n > 0; n = await later.wipe()) removed += n;
        return removed;
      } finally {
        await later.quit();
      }
    },
    migrateReads: () => migrateDryRun(layout, url, namespace),
    quit: () => rs.quit(),
  };
}

/** Runs the `migrate` subcommand in this process, as the CLI would, in a dry run. */
async function migrateDryRun(
  from: "compat" | "cluster",
  url: string,
  namespace: string,
): Promise<number> {
  let output = "";
  const to = from === "compat" ? "cluster" : "compat";
  const exitCode = process.exitCode;
  // The subcommand reports through process.exitCode; keep the bench's own.
  process.exitCode = undefined;
  try {
    await migrateCommand((s) => {
      output += s;
    }).parseAsync(
      [
        ...["--from", from, "--to", to, "--redis", url, "--namespace", namespace],
        ...["--to-namespace", `${namespace}-to`, "--app", APP, "--dry-run"],
      ],
      { from: "user" },
    );
    if (process.exitCode) throw new Error(`migrate exited ${process.exitCode}: ${output.trim()}`);
  } finally {
    process.exitCode = exitCode;
  }
  const m = /(\d+) to copy/.exec(output);
  if (!m) throw new Error(`migrate: no count in its output: ${output.trim()}`);
  return Number(m[1]);
}

/** A store of `kind` on host:port under `namespace`, without a wipe timer. */
export function makeScaleSubject(
  kind: ScaleKind,
  host: string,
  port: number,
  namespace: string,
): ScaleSubject {
  return kind === "v4"
    ? v4Subject(host, port, namespace)
    : oursSubject(kind, host, port, namespace);
}
