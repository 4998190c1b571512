import type { Redis } from "ioredis";

/*
 * Invariants of the redis-sessions layout (src/layouts/compat/keys.ts), checked on the raw keys of one
 * namespace. They hold after every completed operation, whatever failed in between, because
 * every operation is one Lua script. A violation is "debris": a partial hash, an index entry
 * without its session, a session missing from an index.
 */

/** One session hash as found in Redis. */
export interface RawSession {
  app: string;
  token: string;
  fields: Record<string, string>;
}

/** The raw state of a namespace, parsed by key kind. */
export interface RawState {
  sessions: RawSession[];
  /** app → (`{token}:{id}` → score) */
  sessionIndex: Map<string, Map<string, number>>;
  /** app → (id → score) */
  users: Map<string, Map<string, number>>;
  /** app → (id → tokens) */
  userSets: Map<string, Map<string, Set<string>>>;
  /** `{app}:{token}:{id}` → expiry score */
  expiries: Map<string, number>;
  /** Keys that fit no part of the layout. */
  unknown: string[];
}

const TOKEN = /^[0-9A-Za-z]{64}$/;
const SESSION_FIELDS = ["id", "r", "w", "ip", "la", "ttl"] as const;

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", "1000");
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

function scores(flat: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) out.set(flat[i] as string, Number(flat[i + 1]));
  return out;
}

function nested<V>(map: Map<string, V>, key: string, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** Reads every key of namespace `ns` (no trailing colon) and sorts it by role. */
export async function readRawState(redis: Redis, ns: string): Promise<RawState> {
  const prefix = `${ns}:`;
  const state: RawState = {
    sessions: [],
    sessionIndex: new Map(),
    users: new Map(),
    userSets: new Map(),
    expiries: new Map(),
    unknown: [],
  };
  for (const key of await scanAll(redis, `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`)) {
    const rest = key.slice(prefix.length);
    const type = await redis.type(key);
    if (rest === "SESSIONS" && type === "zset") {
      state.expiries = scores(await redis.zrange(key, "0", "-1", "WITHSCORES"));
      continue;
    }
    if (rest === "_wipelock" && type === "string") continue;
    const colon = rest.indexOf(":");
    const app = colon > 0 ? rest.slice(0, colon) : "";
    const tail = colon > 0 ? rest.slice(colon + 1) : "";
    if (!app) state.unknown.push(`${key} (${type})`);
    else if (tail === "_sessions" && type === "zset") {
      state.sessionIndex.set(app, scores(await redis.zrange(key, "0", "-1", "WITHSCORES")));
    } else if (tail === "_users" && type === "zset") {
      state.users.set(app, scores(await redis.zrange(key, "0", "-1", "WITHSCORES")));
    } else if (tail.startsWith("us:") && type === "set") {
      const sets = nested(state.userSets, app, () => new Map<string, Set<string>>());
      sets.set(tail.slice(3), new Set(await redis.smembers(key)));
    } else if (TOKEN.test(tail) && type === "hash") {
      state.sessions.push({ app, token: tail, fields: await redis.hgetall(key) });
    } else state.unknown.push(`${key} (${type})`);
  }
  return state;
}

/** Options of {@link checkInvariants}. */
export interface InvariantOptions {
  /**
   * The clock (unix seconds) of a wipe that just ran: then no expired session may be left, and
   * no expiry score may lie before it.
   */
  wipedAt?: number;
}

/** Checks a raw state; returns one line per violation (empty when all hold). */
export function violationsOf(state: RawState, options: InvariantOptions = {}): string[] {
  const out: string[] = [...state.unknown.map((k) => `unexpected key ${k}`)];
  const byApp = new Map<string, RawSession[]>();
  for (const s of state.sessions) nested(byApp, s.app, () => []).push(s);
  const apps = new Set([
    ...byApp.keys(),
    ...state.sessionIndex.keys(),
    ...state.users.keys(),
    ...state.userSets.keys(),
  ]);
  const expected = new Set<string>();
  for (const s of state.sessions) {
    const where = `${s.app}:${s.token}`;
    // Every hash is complete: a write that raced a kill must not leave {w, d} behind.
    for (const f of SESSION_FIELDS) {
      if (s.fields[f] === undefined) out.push(`hash ${where} lacks field ${f}`);
    }
    const id = s.fields.id;
    if (id === undefined) continue;
    const la = Number(s.fields.la);
    const ttl = Number(s.fields.ttl);
    const member = `${s.token}:${id}`;
    const indexed = state.sessionIndex.get(s.app)?.get(member);
    // la is rewritten only once idle > 1 (as redis-sessions does), so it may lag activity by 1 s.
    if (indexed === undefined) out.push(`hash ${where} missing from _sessions`);
    else if (indexed < la || indexed > la + 1) {
      out.push(`_sessions score of ${where} is ${indexed}, la is ${la}`);
    }
    if (!state.userSets.get(s.app)?.get(id)?.has(s.token)) {
      out.push(`hash ${where} missing from us:${id}`);
    }
    const userScore = state.users.get(s.app)?.get(id);
    if (userScore === undefined) out.push(`id ${id} of ${where} missing from _users`);
    else if (userScore < la) out.push(`_users score of ${id} (${userScore}) < la of ${where}`);
    const global = `${s.app}:${member}`;
    expected.add(global);
    const expiry = state.expiries.get(global);
    if (expiry === undefined) out.push(`hash ${where} missing from SESSIONS`);
    else if (expiry < la + ttl || expiry > la + ttl + 1) {
      out.push(`SESSIONS score of ${where} is ${expiry}, la+ttl is ${la + ttl}`);
    }
    // A session expires at la + ttl, its index entry at most a second later.
    if (options.wipedAt !== undefined && la + ttl + 1 < options.wipedAt) {
      out.push(
        `expired session ${where} (la+ttl ${la + ttl}) survived a wipe at ${options.wipedAt}`,
      );
    }
  }
  for (const app of apps) {
    const sessions = byApp.get(app) ?? [];
    const idOf = new Map(sessions.map((s) => [s.token, s.fields.id]));
    for (const member of state.sessionIndex.get(app)?.keys() ?? []) {
      const token = member.slice(0, 64);
      if (member[64] !== ":" || idOf.get(token) !== member.slice(65)) {
        out.push(`_sessions of ${app} has ${member} without its session`);
      }
    }
    const sets = state.userSets.get(app) ?? new Map<string, Set<string>>();
    for (const [id, tokens] of sets) {
      if (tokens.size === 0) out.push(`empty us:${id} in ${app}`);
      for (const token of tokens) {
        if (idOf.get(token) !== id) out.push(`us:${id} of ${app} has ${token} without its session`);
      }
    }
    // _users holds exactly the ids that have sessions.
    const users = state.users.get(app) ?? new Map<string, number>();
    for (const id of users.keys()) {
      if (!sets.get(id)?.size) out.push(`_users of ${app} has ${id} without sessions`);
    }
    for (const [id, tokens] of sets) {
      if (tokens.size && !users.has(id)) out.push(`_users of ${app} lacks ${id}`);
    }
  }
  for (const [member, score] of state.expiries) {
    if (!expected.has(member)) out.push(`SESSIONS has ${member} without its session`);
    if (options.wipedAt !== undefined && score < options.wipedAt) {
      out.push(`SESSIONS member ${member} scored ${score} survived a wipe at ${options.wipedAt}`);
    }
  }
  return out;
}

/** Reads namespace `ns` and returns its invariant violations (empty when all hold). */
export async function checkInvariants(
  redis: Redis,
  ns: string,
  options: InvariantOptions = {},
): Promise<string[]> {
  return violationsOf(await readRawState(redis, ns), options);
}
