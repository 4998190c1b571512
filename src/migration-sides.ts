import type { Redis } from "ioredis";
import { ClusterLayout } from "./cluster-keys.js";
import { importScript } from "./cluster-scripts.js";
import { compatLayout } from "./keys.js";
import { LUA_IMPORT } from "./lua-common.js";
import { type RedisClient, Script } from "./script.js";
import { RedisSessions } from "./store.js";

/** One session as stored: its token and the fields of its hash. */
export interface StoredSession {
  token: string;
  fields: Record<string, string>;
}

/** A batch read from a source, and where the next one starts ("0" when done). */
export interface Batch {
  cursor: string;
  sessions: StoredSession[];
}

/** What migration needs from one key layout. */
export interface Side {
  readonly layout: "compat" | "cluster";
  /** Apps with a sessions index, found with SCAN on every master. */
  apps(): Promise<string[]>;
  /** About how many sessions an app has (index size, expired ones included). */
  count(app: string): Promise<number>;
  /** Reads the sessions of an app from `cursor` ("0": from the start). */
  read(app: string, cursor: string, batch: number): Promise<Batch>;
  /** Writes a session unless the target holds it as new already; true if written. */
  write(app: string, session: StoredSession, remaining: number): Promise<boolean>;
  /** True when `token` names a live session of the app at `now`. */
  isLive(app: string, token: string, now: number): Promise<boolean>;
  /** The tokens this tool copied into the app (for `prune`). */
  copied(app: string): AsyncIterable<string>;
  /** Ends one session the proper way (indexes, cache invalidation). */
  kill(app: string, token: string): Promise<void>;
  /** Redis' clock, in unix seconds. */
  now(): Promise<number>;
  close(): Promise<void>;
}

const APP = /^[\w-]{3,20}$/;
/** How long the compat layout's set of copied tokens is kept for a later prune. */
const COPIED_TTL = 7 * 86_400;

function masters(client: RedisClient): Redis[] {
  return "nodes" in client && typeof client.nodes === "function"
    ? client.nodes("master")
    : [client as Redis];
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** Every `head{app}tail` key on every master, with SCAN (never KEYS). */
async function scanApps(client: RedisClient, head: string, tail: string): Promise<string[]> {
  const found = new Set<string>();
  for (const node of masters(client)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(
        cursor,
        "MATCH",
        `${globEscape(head)}*${globEscape(tail)}`,
        "COUNT",
        1000,
      );
      cursor = next;
      for (const key of keys) {
        const app = key.slice(head.length, key.length - tail.length);
        if (APP.test(app)) found.add(app);
      }
    } while (cursor !== "0");
  }
  return [...found].sort();
}

function fieldArgs(fields: Record<string, string>): string[] {
  // The marker of a copy is not carried over: it is set again by the side that writes.
  return Object.entries(fields).flatMap(([k, v]) => (k === "mig" ? [] : [k, v]));
}

function alive(fields: (string | null)[], now: number): boolean {
  const [id, la, ttl] = fields;
  return id !== null && id !== undefined && Number(ttl) >= now - Number(la);
}

async function redisNow(client: RedisClient): Promise<number> {
  const [seconds] = (await (masters(client)[0] as Redis).time()) as [number | string, unknown];
  return Number(seconds);
}

/*
 * Copies one session into the compat layout, keeping token, counters, data and expiry; only a
 * newer copy replaces an existing one. ARGV: ns, app, token, field pairs, "", remaining seconds.
 * The token also goes into `{ns}:{app}:_migrated` (not a redis-sessions key) for a later prune.
 */
const compatImport = new Script(`${LUA_IMPORT}
local ns, app, token = ARGV[1], ARGV[2], ARGV[3]
local p = ns .. ':' .. app .. ':'
local key = p .. token
local fields, f, i = imported(4)
local ttlKeep = tonumber(ARGV[i + 1])
local skip = importedAlready(key, f)
if skip then return skip end
redis.call('DEL', key)
redis.call('HSET', key, unpack(fields))
local la = tonumber(f.la) or 0
local tid = token .. ':' .. f.id
redis.call('ZADD', p .. '_sessions', la, tid)
redis.call('ZADD', p .. '_users', 'GT', la, f.id)
redis.call('ZADD', ns .. ':SESSIONS', la + (tonumber(f.ttl) or 0), app .. ':' .. tid)
redis.call('SADD', p .. 'us:' .. f.id, token)
redis.call('SADD', p .. '_migrated', token)
redis.call('EXPIRE', p .. '_migrated', ttlKeep)
return 1
`);

/** The redis-sessions layout (one Redis). */
export class CompatSide implements Side {
  readonly layout = "compat" as const;
  private readonly keys;
  private store: RedisSessions | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly namespace: string,
  ) {
    this.keys = compatLayout(namespace);
  }

  apps(): Promise<string[]> {
    return scanApps(this.client, this.keys.prefix, ":_sessions");
  }

  count(app: string): Promise<number> {
    return this.client.zcard(this.keys.sessions(app));
  }

  async read(app: string, cursor: string, batch: number): Promise<Batch> {
    const [next, flat] = await this.client.zscan(this.keys.sessions(app), cursor, "COUNT", batch);
    const tokens = flat.filter((_, i) => i % 2 === 0).map((m) => m.slice(0, 64));
    const hashes = await Promise.all(
      tokens.map((t) => this.client.hgetall(this.keys.session(app, t))),
    );
    const sessions = tokens.map((token, i) => ({ token, fields: hashes[i] ?? {} }));
    return { cursor: next, sessions };
  }

  async write(app: string, s: StoredSession, remaining: number): Promise<boolean> {
    const args = [this.namespace, app, s.token, ...fieldArgs(s.fields), "", COPIED_TTL];
    void remaining; // the compat layout expires through its wiper, from la + ttl
    return Number(await compatImport.run(this.client, [], args)) === 1;
  }

  async isLive(app: string, token: string, now: number): Promise<boolean> {
    const f = await this.client.hmget(this.keys.session(app, token), "id", "la", "ttl");
    return alive(f, now);
  }

  async *copied(app: string): AsyncIterable<string> {
    const key = `${this.keys.appPrefix(app)}_migrated`;
    let cursor = "0";
    do {
      const [next, tokens] = await this.client.sscan(key, cursor, "COUNT", 500);
      cursor = next;
      yield* tokens;
    } while (cursor !== "0");
  }

  async kill(app: string, token: string): Promise<void> {
    this.store ??= new RedisSessions({ client: this.client, namespace: this.namespace, wipe: 0 });
    await this.store.kill({ app, token });
    await this.client.srem(`${this.keys.appPrefix(app)}_migrated`, token);
  }

  now(): Promise<number> {
    return redisNow(this.client);
  }

  async close(): Promise<void> {
    await this.store?.quit();
  }
}

/** The cluster layout (one Redis or a Redis Cluster). */
export class ClusterSide implements Side {
  readonly layout = "cluster" as const;
  private readonly keys: ClusterLayout;
  private readonly checked = new Set<string>();
  private store: RedisSessions | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly namespace: string,
    buckets: number,
  ) {
    this.keys = new ClusterLayout(namespace, buckets);
  }

  apps(): Promise<string[]> {
    return scanApps(this.client, `${this.keys.prefix}{`, "}:_buckets");
  }

  async count(app: string): Promise<number> {
    const counts = await Promise.all(
      this.buckets().map((b) => this.client.zcard(this.keys.indexes(app, b)[0])),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The cursor is `bucket:zscan-cursor`. */
  async read(app: string, cursor: string, batch: number): Promise<Batch> {
    let [b = 0, c = "0"] =
      cursor === "0" ? [0, "0"] : [Number(cursor.split(":")[0]), cursor.split(":")[1]];
    const sessions: StoredSession[] = [];
    while (b < this.keys.buckets && sessions.length < batch) {
      const [next, flat] = await this.client.zscan(this.keys.indexes(app, b)[0], c, "COUNT", batch);
      const tokens = flat.filter((_, i) => i % 2 === 0).map((m) => m.slice(0, 64));
      const bucket = b;
      const hashes = await Promise.all(
        tokens.map((t) => this.client.hgetall(this.keys.session(app, bucket, t))),
      );
      tokens.forEach((token, i) => {
        sessions.push({ token, fields: hashes[i] ?? {} });
      });
      if (next === "0") {
        b++;
        c = "0";
      } else {
        c = next;
      }
    }
    return { cursor: b >= this.keys.buckets ? "0" : `${b}:${c}`, sessions };
  }

  async write(app: string, s: StoredSession, remaining: number): Promise<boolean> {
    await this.checkBuckets(app);
    const id = s.fields.id ?? "";
    const home = this.keys.userBucket(id);
    const written = await importScript.run(
      this.client,
      [...this.keys.indexes(app, home), this.keys.session(app, home, s.token)],
      [s.token, ...fieldArgs(s.fields), "", remaining],
    );
    const routed = this.keys.tokenBucket(s.token);
    if (routed !== home) {
      // The token names no bucket (it was issued by the compat layout): a pointer where it
      // routes tells where it lives. It lives as long as the session, refreshed on each use.
      const ttl = Number(s.fields.ttl) || remaining;
      await this.client.set(
        this.keys.pointer(app, routed, s.token),
        `${home}:${ttl}`,
        "EX",
        Math.max(1, remaining) + 5,
      );
    }
    return Number(written) === 1;
  }

  async isLive(app: string, token: string, now: number): Promise<boolean> {
    const routed = this.keys.tokenBucket(token);
    let f = await this.client.hmget(this.keys.session(app, routed, token), "id", "la", "ttl");
    if (f[0] === null) {
      const to = await this.client.get(this.keys.pointer(app, routed, token));
      if (!to) return false;
      const home = Number.parseInt(to, 10);
      f = await this.client.hmget(this.keys.session(app, home, token), "id", "la", "ttl");
    }
    return alive(f, now);
  }

  async *copied(app: string): AsyncIterable<string> {
    for (const b of this.buckets()) {
      let cursor = "0";
      do {
        const [next, flat] = await this.client.zscan(
          this.keys.indexes(app, b)[0],
          cursor,
          "COUNT",
          500,
        );
        cursor = next;
        const tokens = flat.filter((_, i) => i % 2 === 0).map((m) => m.slice(0, 64));
        const marks = await Promise.all(
          tokens.map((t) => this.client.hget(this.keys.session(app, b, t), "mig")),
        );
        yield* tokens.filter((_, i) => marks[i] === "1");
      } while (cursor !== "0");
    }
  }

  async kill(app: string, token: string): Promise<void> {
    this.store ??= new RedisSessions({
      client: this.client,
      namespace: this.namespace,
      layout: "cluster",
      buckets: this.keys.buckets,
      wipe: 0,
    });
    await this.store.kill({ app, token });
  }

  now(): Promise<number> {
    return redisNow(this.client);
  }

  async close(): Promise<void> {
    await this.store?.quit();
  }

  private async checkBuckets(app: string): Promise<void> {
    if (this.checked.has(app)) return;
    const n = String(this.keys.buckets);
    const stored = await this.client.set(this.keys.registry(app), n, "NX", "GET");
    if (stored !== null && stored !== n) {
      throw new Error(
        `app "${app}" has ${stored} buckets in the target, not ${n}: pass --buckets ${stored}`,
      );
    }
    this.checked.add(app);
  }

  private buckets(): number[] {
    return Array.from({ length: this.keys.buckets }, (_, b) => b);
  }
}
