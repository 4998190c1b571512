/**
 * A TEST DOUBLE of the Elixir port of redis-sessions (Hex `redis_sessions`, GitHub
 * mpneuried/ex-redis-sessions), in TypeScript over an ioredis client, so that tests can put
 * Elixir-written sessions into Redis and replay what an Elixir peer does to ours, without Elixir.
 *
 * It mirrors ex-redis-sessions 0.3.0 = tag `0.3.0` = commit
 * d1f4bc6fb2ee57204a857a10cecb073aa3cb9d2e (2021-10-20), `lib/redis_sessions/client.ex` and
 * `lib/redis_sessions/redix_pool.ex` (the Hex tarball itself could not be fetched; the tag is the
 * repository's HEAD and mix.exs says 0.3.0), with the JSON codec of its `mix.lock` (Poison 5.0.0,
 * whose output the encoder below was checked against) and Elixir 1.14 / OTP 25 semantics. It
 * follows /work/shared/reference/elixir-port.md where that file is right, the source where not.
 * No Elixir code was copied; every method sends the same commands, in the same order, with the
 * same argument formats, pipelined (Redix.pipeline: no MULTI/EXEC) or single exactly where the
 * port does, and returns what the port returns.
 *
 * Where the reference (elixir-port.md) is wrong or incomplete, per the source:
 * - token: the 55 random characters come from a 56-character alphabet, `A-W a-w 0-9` (no
 *   X, Y, Z, x, y, z), not from redis-sessions' 61 characters. Nominal entropy ~319 bits.
 * - set: the pipeline order is the reverse of the reference's: `ZADD _sessions`, `ZADD _users`,
 *   `ZADD SESSIONS`, `HINCRBY w 1`, `HSET la now_s`, then `HSET d json` or `HDEL d`.
 * - set: `HSET la` is sent on EVERY set, not "when idle > 0": `update_la_key/5` is called with the
 *   `d` argument where the guard expects idle, and a map (or nil) is never `<= 0` in term order.
 * - set: `d = nil` is accepted and clears the whole `d` (`HDEL d`); redis-sessions rejects it.
 * - set: on a session that has no `d` field, a non-nil `d` CRASHES the GenServer (`BadMapError`
 *   from `Map.drop(nil, …)`): only the HMGET was sent, nothing is written, the caller exits. So
 *   Elixir cannot `set` on any session created without `d` (by it or by anyone), nor on one whose
 *   `d` a previous set emptied. Here: {@link ElixirPortCrash} with reason `badmap`.
 * - set/create: `d` is written by Poison, not JSON.stringify: object keys in DESCENDING byte order
 *   (Poison 5 folds `Map.keys/1`, sorted for maps of up to 32 keys, onto the front of a list),
 *   floats in Erlang's shortest form (`2.5`, `1.0e-7`, `100.0`), control characters escaped as
 *   `\u001F` with upper-case hex, DEL and U+0080–U+009F escaped only at the start of a string or
 *   right after another escape (raw elsewhere). A set therefore re-orders a `d` that
 *   redis-sessions wrote in insertion order. (Maps of more than 32 keys come out in hash-trie
 *   order: not modelled, the double throws.)
 * - get/set/kill/soid/soapp: the stored `ttl`, `r`, `w` and `la` go through
 *   `String.to_integer/1`: a non-integer `ttl` (redis-sessions v4 stores `"100.7"` or any string
 *   verbatim) crashes the GenServer ({@link ElixirPortCrash} reason `badarg`). `no_resave` is
 *   never read: a no_resave session's stored (remaining) ttl is reported and re-used as is.
 * - kill: it first sends `HMGET hash id r w ttl d la ip` (no count); an unknown or expired token
 *   returns `{:ok, nil}` (here `null`), not `{kill: 0}`, and sends nothing else. Otherwise one
 *   pipeline `ZREM _sessions`, `SREM us:{id}`, `ZREM SESSIONS`, `DEL hash`, `EXISTS us:{id}` (its
 *   reply is ignored) and then a separate `ZREM _users {id}`.
 * - killsoid: `SMEMBERS us:{id}`, then ONE pipeline of the four kill commands per token plus one
 *   `EXISTS`, then `ZREM _users`; no liveness check (expired sessions count); kill = sum of DELs.
 * - killall is not "the same kill commands per token": `ZRANGE _sessions 0 -1`, then ONE pipeline
 *   of five bulk commands, `ZREM _sessions <members>`, `ZREM _users <unique ids>`,
 *   `ZREM SESSIONS <app:member, reversed>`, `DEL <us:id keys>`, `DEL <hashes, reversed>`;
 *   kill = the first ZREM's reply. An id containing `:` crashes it (`MatchError`) after the ZRANGE.
 * - soid/soapp: the per-token `HMGET`s go in one pipeline, and the returned list keeps a `nil`
 *   (here `null`) for every token whose hash is missing or expired (the filter tests the HMGET
 *   reply, which is never nil). soapp has the same seconds-from-milliseconds window as activity.
 * - activity/soapp: the bound `now_ms - dt` is sent as a plain integer, i.e. INCLUSIVE.
 * - wipe: per member a kill pipeline (4 commands + EXISTS) then `ZREM _users`, one member after
 *   the other, with no HMGET or liveness check. A member that does not split into exactly three
 *   parts on `:` raises `MatchError` inside the GenServer's `handle_cast`: the rest of that wipe is
 *   abandoned (members are in score order, so every later one is never wiped while it stays),
 *   calls queued behind it exit, and the supervisor restarts the GenServer, whose `start_link`
 *   registers ANOTHER `:timer.apply_interval` from the supervisor process (a minimal Elixir 1.14
 *   model of that structure ran n+1 timers after n crashes). Any other crash (set without d,
 *   bad ttl, …) does the same.
 * - validation (Vex), stricter than redis-sessions: id `^[a-zA-Z0-9_-]{1,64}$` (no `@`, `.`, `:`…),
 *   so Elixir cannot create, soid or killsoid such ids; ttl and dt must be integers `> 10` (10 is
 *   rejected although the message says `>= 10`); `d` need only be a map (nested values pass).
 *   PCRE's `$` also matches before one final `\n`, and ip's `.{1,39}` counts bytes.
 * - the SESSIONS score is the TEXT concatenation, but Redis keeps a double: 17+ digits exceed
 *   2^53, so the stored score is the nearest double (e.g. `${now_ms}3601` is rounded to even).
 * - no command of the port ever PUBLISHes `{ns}cache`: not set, killsoid, killall or wipe either
 *   (the reference names only kill).
 * Confirmed by the reference: create's commands and HMSET field order (`id r w ip la ttl [d]`,
 * nulls dropped, no `d` when empty), default ttl 3600, scores in ms, la in seconds, get's
 * `hincrby r 1` (sent in lower case, as a single command) without touching la or any index,
 * expiry `ttl < now_s - la`, activity's `ZCOUNT _users now_ms-dt +inf`, wipe's
 * `ZRANGEBYSCORE SESSIONS -inf now_ms`, kill's `ZREM _users` even when other sessions remain.
 *
 * Limits of the double: a JS number stands for an Elixir integer when `Number.isInteger`, else a
 * float; so a float with an integral value already stored in `d` (`100.0`, written by a real
 * Elixir peer) is re-encoded by `set` as `100`, and integers beyond 2^53 lose precision. The
 * port serialises every call through one GenServer; the double does not. A crash is a thrown
 * {@link ElixirPortCrash} here, and nothing restarts or multiplies.
 */
import { randomInt } from "node:crypto";
import type { ChainableCommander, Redis } from "ioredis";

/** A session as the port returns it (`%{id, r, w, ttl, idle, ip, d}`); it never holds the token. */
export interface ElixirSession {
  id: string;
  r: number;
  w: number;
  /** The stored ttl, parsed as an integer (for a no_resave session: the stored remaining ttl). */
  ttl: number;
  /** now_s − la. */
  idle: number;
  /** As stored; `null` when the hash has no `ip` field. */
  ip: string | null;
  /** The decoded `d`; `null` when there is none (the key is always present). */
  d: Record<string, unknown> | null;
}

/** One Vex validation error as the port returns it: `{key, type, message}`. */
export type ElixirValidationError = readonly [key: string, type: string, message: string];

/** The port's `{:error, [{key, type, msg}, …]}` reply to invalid arguments; nothing was sent. */
export class ElixirPortRejection extends Error {
  constructor(readonly errors: readonly ElixirValidationError[]) {
    super(`rejected: ${errors.map((e) => e.join(" ")).join("; ")}`);
    this.name = "ElixirPortRejection";
  }
}

/**
 * The port's GenServer raised: the caller gets an exit, the GenServer restarts (and gains a wipe
 * timer). Everything sent before the raise stays sent.
 */
export class ElixirPortCrash extends Error {
  constructor(
    readonly reason: "badmap" | "badarg" | "badmatch" | "decode",
    detail: string,
  ) {
    super(`ElixirPort crash (${reason}): ${detail}`);
    this.name = "ElixirPortCrash";
  }
}

/** Options of {@link ElixirPort}. */
export interface ElixirPortOptions {
  redis: Redis;
  /** The port's `ns` config (its default is `rs`); keys are `{ns}:…`. */
  namespace: string;
  /** Unix milliseconds (the port reads `DateTime.utc_now()`). Default `Date.now`. */
  clock?: () => number;
  /**
   * Run {@link ElixirPort.wipe} every 600 s, as the port does by default (`wipe: 600`; `0`
   * disables it). Default false: tests call `wipe()` themselves. {@link ElixirPort.stop} ends it.
   */
  wipe?: boolean;
}

type Arg = string | number;

const TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWabcdefghijklmnopqrstuvw0123456789";
const HMGET_FIELDS = ["id", "r", "w", "ttl", "d", "la", "ip"] as const;
const WIPE_INTERVAL_MS = 600_000;
const DT_MESSAGE = "ttl must be a positive integer >= 10";

/** The port, command for command. See the file header for what it sends and where it crashes. */
export class ElixirPort {
  private readonly redis: Redis;
  private readonly ns: string;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor({ redis, namespace, clock = Date.now, wipe = false }: ElixirPortOptions) {
    this.redis = redis;
    this.ns = namespace;
    this.clock = clock;
    if (wipe) {
      this.timer = setInterval(() => {
        // The port logs wipe errors and carries on.
        this.wipe().catch(() => undefined);
      }, WIPE_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Stops the wipe timer, if any. The redis client stays the caller's. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * `create(app, id, ip, ttl \\ 3600, d \\ nil)`. One pipeline:
   * `ZADD {ns}:{app}:_sessions now_ms "{token}:{id}"`, `ZADD {ns}:{app}:_users now_ms {id}`,
   * `ZADD {ns}:SESSIONS "{now_ms}{ttl}" "{app}:{token}:{id}"`, `SADD {ns}:{app}:us:{id} {token}`,
   * `HMSET {ns}:{app}:{token} id {id} r 1 w 1 ip {ip} la {now_s} ttl {ttl} [d {json}]`
   * (nulls dropped from d; no d field when nothing is left).
   * @returns `{token}`; throws {@link ElixirPortRejection} on invalid arguments, and an Error
   *   carrying the HMSET reply when that reply is not `OK` (`{:error, reply}`).
   */
  async create(p: {
    app: string;
    id: string;
    ip: string;
    ttl?: number;
    d?: Record<string, unknown> | null;
  }): Promise<{ token: string }> {
    const ttl = p.ttl === undefined ? 3600 : p.ttl;
    reject([
      ...checkApp(p.app),
      ...checkId(p.id),
      ...checkIp(p.ip),
      ...checkInteger("ttl", ttl, "ttl must be a positive integer >= 10"),
      ...checkD(p.d),
    ]);
    const now = this.nowMs();
    const token = createToken(now);
    let dArgs: Arg[] = [];
    if (p.d !== undefined && p.d !== null) {
      const kept = dropNullValues(p.d);
      if (Object.keys(kept).length > 0) dArgs = ["d", poisonEncode(kept)];
    }
    const hash = this.key(p.app, token);
    const replies = await this.pipeline([
      ...this.indexZadds(p.app, token, p.id, ttl, now),
      ["SADD", this.key(p.app, `us:${p.id}`), token],
      [
        "HMSET",
        hash,
        "id",
        p.id,
        "r",
        1,
        "w",
        1,
        "ip",
        p.ip,
        "la",
        seconds(now),
        "ttl",
        ttl,
        ...dArgs,
      ],
    ]);
    const hmset = replies[4];
    if (hmset !== "OK") throw new Error(`create failed: ${String(hmset)}`);
    return { token };
  }

  /**
   * `get(app, token)`: `HMGET {ns}:{app}:{token} id r w ttl d la ip`; when live (`ttl >= idle`),
   * a single `hincrby {ns}:{app}:{token} r 1` (lower case, as the port writes it). Never touches
   * la nor any index.
   * @returns the session with `r` AFTER the increment, or `null` (missing or expired: only the
   *   HMGET was sent).
   */
  async get(p: { app: string; token: string }): Promise<ElixirSession | null> {
    reject([...checkApp(p.app), ...checkToken(p.token)]);
    const session = await this.sessionGet(p.app, p.token);
    if (session === null) return null;
    await this.redis.call("hincrby", this.key(p.app, p.token), "r", 1);
    return { ...session, r: session.r + 1 };
  }

  /**
   * `set(app, token, d \\ nil)`: `HMGET … id r w ttl d la ip` (no count); when live, one pipeline:
   * `ZADD _sessions now_ms "{token}:{id}"`, `ZADD _users now_ms {id}`,
   * `ZADD SESSIONS "{now_ms}{stored ttl}" "{app}:{token}:{id}"`, `HINCRBY hash w 1`,
   * `HSET hash la now_s` (always), then `HSET hash d {merged json}` or `HDEL hash d` (d null, or
   * the merge left nothing). Merge: drop the keys given as null from the old and the new map,
   * then the new values win.
   * @returns the session as read, with `d` merged (or `null`) and `w` + 1 (`r`, `idle` as read),
   *   or `null` when missing or expired. Throws {@link ElixirPortCrash} (`badmap`) when `d` is not
   *   null and the stored session has no `d` object: only the HMGET was sent.
   */
  async set(p: {
    app: string;
    token: string;
    d: Record<string, unknown> | null;
  }): Promise<ElixirSession | null> {
    reject([...checkApp(p.app), ...checkToken(p.token), ...checkD(p.d)]);
    const session = await this.sessionGet(p.app, p.token);
    if (session === null) return null;
    const now = this.nowMs();
    const hash = this.key(p.app, p.token);
    let d: Record<string, unknown> | null = null;
    let dCommand: Arg[] = ["HDEL", hash, "d"];
    if (p.d !== null && p.d !== undefined) {
      const old: unknown = session.d;
      if (old === null || typeof old !== "object" || Array.isArray(old)) {
        throw new ElixirPortCrash("badmap", `Map.drop(${JSON.stringify(old)}, …) in set`);
      }
      const nullKeys = new Set(Object.keys(p.d).filter((k) => p.d?.[k] === null));
      const merged: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(old)) if (!nullKeys.has(k)) merged[k] = v;
      for (const [k, v] of Object.entries(p.d)) if (!nullKeys.has(k)) merged[k] = v;
      if (Object.keys(merged).length > 0) {
        d = merged;
        dCommand = ["HSET", hash, "d", poisonEncode(merged)];
      }
    }
    await this.pipeline([
      ...this.indexZadds(p.app, p.token, session.id, session.ttl, now),
      ["HINCRBY", hash, "w", 1],
      ["HSET", hash, "la", seconds(now)],
      dCommand,
    ]);
    return { ...session, w: session.w + 1, d };
  }

  /**
   * `kill(app, token)`: `HMGET … id r w ttl d la ip`; when live, one pipeline
   * `ZREM _sessions "{token}:{id}"`, `SREM us:{id} {token}`, `ZREM SESSIONS "{app}:{token}:{id}"`,
   * `DEL hash`, `EXISTS us:{id}`, then a single `ZREM _users {id}` whatever EXISTS said.
   * @returns `{kill: <DEL reply>}`, or `null` for a missing or expired session (`{:ok, nil}`;
   *   nothing but the HMGET sent, so an expired session's keys stay).
   */
  async kill(p: { app: string; token: string }): Promise<{ kill: number } | null> {
    reject([...checkApp(p.app), ...checkToken(p.token)]);
    const session = await this.sessionGet(p.app, p.token);
    if (session === null) return null;
    return this.killSessions(p.app, [p.token], session.id);
  }

  /**
   * `killsoid(app, id)`: `SMEMBERS us:{id}`; if any, one pipeline of the four kill commands per
   * token (SMEMBERS order) and one `EXISTS us:{id}`, then a single `ZREM _users {id}`.
   * @returns `{kill: <sum of the DEL replies>}` (`{kill: 0}` for no tokens). Expired sessions are
   *   killed and counted too.
   */
  async killsoid(p: { app: string; id: string }): Promise<{ kill: number }> {
    reject([...checkApp(p.app), ...checkId(p.id)]);
    const tokens = await this.redis.smembers(this.key(p.app, `us:${p.id}`));
    if (tokens.length === 0) return { kill: 0 };
    return this.killSessions(p.app, tokens, p.id);
  }

  /**
   * `killall(app)`: `ZRANGE _sessions 0 -1`; if any, one pipeline `ZREM _sessions <members>`,
   * `ZREM _users <unique ids>`, `ZREM SESSIONS <"{app}:{member}", reversed>`,
   * `DEL <us:{id}, unique>`, `DEL <hashes, reversed>` (unique lists in byte order, as MapSet gives
   * them up to 32 elements; beyond, Elixir's order differs, which changes no data).
   * @returns `{kill: <reply of the first ZREM>}`; throws {@link ElixirPortCrash} (`badmatch`),
   *   after the ZRANGE only, when a member does not split into exactly two parts on `:`.
   */
  async killall(p: { app: string }): Promise<{ kill: number }> {
    reject(checkApp(p.app));
    const ask = this.key(p.app, "_sessions");
    const members = await this.redis.call("ZRANGE", ask, 0, -1);
    if (!Array.isArray(members) || members.length === 0) return { kill: 0 };
    const gk: string[] = [];
    const tk: string[] = [];
    const uk = new Set<string>();
    const ids = new Set<string>();
    for (const member of members as string[]) {
      const parts = member.split(":");
      if (parts.length !== 2) throw new ElixirPortCrash("badmatch", `killall split of ${member}`);
      const [token, id] = parts as [string, string];
      gk.unshift(`${p.app}:${member}`);
      tk.unshift(this.key(p.app, token));
      uk.add(this.key(p.app, `us:${id}`));
      ids.add(id);
    }
    const replies = await this.pipeline([
      ["ZREM", ask, ...(members as string[])],
      ["ZREM", this.key(p.app, "_users"), ...byteSorted(ids)],
      ["ZREM", `${this.ns}:SESSIONS`, ...gk],
      ["DEL", ...byteSorted(uk)],
      ["DEL", ...tk],
    ]);
    return { kill: Number(replies[0]) };
  }

  /**
   * `activity(app, dt \\ 600)`: `ZCOUNT _users {now_ms - dt} +inf` — dt seconds subtracted from
   * milliseconds, so the window is dt ms wide, inclusive.
   * @returns `{activity: n}`.
   */
  async activity(p: { app: string; dt?: number }): Promise<{ activity: number }> {
    const dt = p.dt === undefined ? 600 : p.dt;
    reject([...checkApp(p.app), ...checkInteger("dt", dt, DT_MESSAGE)]);
    const n = await this.redis.call("ZCOUNT", this.key(p.app, "_users"), this.nowMs() - dt, "+inf");
    return { activity: Number(n) };
  }

  /**
   * `soapp(app, dt \\ 600)`: `ZREVRANGEBYSCORE _sessions +inf {now_ms - dt}` (dt ms wide,
   * inclusive), tokens = each member up to its first `:`, then one pipeline of
   * `HMGET {ns}:{app}:{token} id r w ttl d la ip` per token (none when there is no token).
   * @returns `{sessions}` in that order, with `null` for a missing or expired hash.
   */
  async soapp(p: { app: string; dt?: number }): Promise<{ sessions: (ElixirSession | null)[] }> {
    const dt = p.dt === undefined ? 600 : p.dt;
    reject([...checkApp(p.app), ...checkInteger("dt", dt, DT_MESSAGE)]);
    const members = (await this.redis.call(
      "ZREVRANGEBYSCORE",
      this.key(p.app, "_sessions"),
      "+inf",
      this.nowMs() - dt,
    )) as string[];
    return this.grepSessions(
      p.app,
      members.map((m) => m.split(":")[0] ?? ""),
    );
  }

  /**
   * `soid(app, id)`: `SMEMBERS us:{id}`, then the HMGET pipeline of soapp.
   * @returns `{sessions}` in SMEMBERS order, with `null` for a missing or expired hash.
   */
  async soid(p: { app: string; id: string }): Promise<{ sessions: (ElixirSession | null)[] }> {
    reject([...checkApp(p.app), ...checkId(p.id)]);
    const tokens = await this.redis.smembers(this.key(p.app, `us:${p.id}`));
    return this.grepSessions(p.app, tokens);
  }

  /**
   * One wipe: `ZRANGEBYSCORE {ns}:SESSIONS -inf {now_ms}`, then for each member, one after the
   * other, split on `:` into app, token, id: the kill pipeline (4 commands + EXISTS) and
   * `ZREM _users {id}`. No liveness check. The real `wipe/0` is a cast that returns `:ok` at once;
   * this resolves when done. Throws {@link ElixirPortCrash} (`badmatch`) at the first member that
   * does not split into exactly three parts; earlier members stay wiped, later ones untouched.
   */
  async wipe(): Promise<void> {
    const members = (await this.redis.call(
      "ZRANGEBYSCORE",
      `${this.ns}:SESSIONS`,
      "-inf",
      this.nowMs(),
    )) as string[];
    for (const member of members) {
      const parts = member.split(":");
      if (parts.length !== 3) throw new ElixirPortCrash("badmatch", `wipe split of ${member}`);
      const [app, token, id] = parts as [string, string, string];
      await this.killSessions(app, [token], id);
    }
  }

  // ---- internals, named after the port's private functions ----

  private nowMs(): number {
    return Math.floor(this.clock());
  }

  private key(app: string, rest: string): string {
    return `${this.ns}:${app}:${rest}`;
  }

  /** create_multi_statement: the three ZADDs, in this order, in front of the other commands. */
  private indexZadds(app: string, token: string, id: string, ttl: number, now: number): Arg[][] {
    return [
      ["ZADD", this.key(app, "_sessions"), now, `${token}:${id}`],
      ["ZADD", this.key(app, "_users"), now, id],
      ["ZADD", `${this.ns}:SESSIONS`, `${now}${ttl}`, `${app}:${token}:${id}`],
    ];
  }

  /** session_get with noupdate: the HMGET and prepare_session. */
  private async sessionGet(app: string, token: string): Promise<ElixirSession | null> {
    const fields = (await this.redis.call("HMGET", this.key(app, token), ...HMGET_FIELDS)) as (
      | string
      | null
    )[];
    return this.prepareSession(fields);
  }

  private prepareSession(fields: readonly (string | null)[]): ElixirSession | null {
    const [id, r, w, ttl, d, la, ip] = fields;
    if (id === null || id === undefined) return null;
    const session: ElixirSession = {
      id,
      r: toInteger(r, "r"),
      w: toInteger(w, "w"),
      ttl: toInteger(ttl, "ttl"),
      idle: seconds(this.nowMs()) - toInteger(la, "la"),
      ip: ip ?? null,
      d: null,
    };
    if (session.ttl < session.idle) return null;
    if (d !== null && d !== undefined) {
      try {
        session.d = JSON.parse(d) as Record<string, unknown>;
      } catch {
        throw new ElixirPortCrash("decode", `Poison.decode! of ${d}`);
      }
    }
    return session;
  }

  /** kill_sessions: one pipeline of 4 commands per token + EXISTS, then a lone ZREM _users. */
  private async killSessions(app: string, tokens: string[], id: string): Promise<{ kill: number }> {
    const commands: Arg[][] = [];
    for (const token of tokens) {
      commands.push(
        ["ZREM", this.key(app, "_sessions"), `${token}:${id}`],
        ["SREM", this.key(app, `us:${id}`), token],
        ["ZREM", `${this.ns}:SESSIONS`, `${app}:${token}:${id}`],
        ["DEL", this.key(app, token)],
      );
    }
    commands.push(["EXISTS", this.key(app, `us:${id}`)]);
    const replies = await this.pipeline(commands);
    let deleted = 0;
    for (let i = 3; i < replies.length - 1; i += 4) deleted += Number(replies[i]);
    await this.redis.call("ZREM", this.key(app, "_users"), id);
    return { kill: deleted };
  }

  /** grep_sessions: nothing for no tokens, else one HMGET pipeline; nils kept. */
  private async grepSessions(
    app: string,
    tokens: string[],
  ): Promise<{ sessions: (ElixirSession | null)[] }> {
    if (tokens.length === 0) return { sessions: [] };
    const replies = await this.pipeline(
      tokens.map((t) => ["HMGET", this.key(app, t), ...HMGET_FIELDS]),
    );
    return {
      sessions: replies.map((fields) => this.prepareSession(fields as (string | null)[])),
    };
  }

  /**
   * Redix.pipeline: the commands written back to back, no MULTI. A Redis error reply stays in
   * the reply list as a value (as a `Redix.Error` does); only a connection failure throws.
   */
  private async pipeline(commands: Arg[][]): Promise<unknown[]> {
    const p: ChainableCommander = this.redis.pipeline();
    for (const [name, ...args] of commands) p.call(String(name), ...args);
    const results = await p.exec();
    if (!results) throw new Error("pipeline aborted");
    return results.map(([err, reply]) => err ?? reply);
  }
}

// ---- token, time, JSON (Poison 5.0.0), validation (Vex) ----

/** create_token: 55 × `Enum.random` over A–W a–w 0–9, `Z`, base-36 of now_ms in lower case. */
function createToken(nowMs: number): string {
  let s = "";
  for (let i = 0; i < 55; i++) s += TOKEN_CHARS[randomInt(TOKEN_CHARS.length)];
  return `${s}Z${nowMs.toString(36)}`;
}

/** `DateTime.to_unix(now, :second)`. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** `String.to_integer/1`: optional sign and decimal digits, or the GenServer crashes. */
function toInteger(value: string | null | undefined, field: string): number {
  if (typeof value !== "string" || !/^[+-]?\d+$/.test(value)) {
    throw new ElixirPortCrash("badarg", `String.to_integer(${JSON.stringify(value)}) for ${field}`);
  }
  return Number.parseInt(value, 10);
}

function dropNullValues(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) if (v !== null) out[k] = v;
  return out;
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Erlang term order of binaries, which is how a small MapSet lists them. */
function byteSorted(values: Iterable<string>): string[] {
  return [...values].sort(byteCompare);
}

/**
 * `Poison.encode!/1` (5.0.0) of a decoded/JS value: map keys in descending byte order, Elixir
 * integers for integral numbers, Erlang's shortest float form otherwise, Poison's escapes.
 */
export function poisonEncode(value: unknown): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") return poisonNumber(value);
  if (typeof value === "string") return poisonString(value);
  if (Array.isArray(value)) return `[${value.map(poisonEncode).join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length > 32) {
      throw new Error(
        "ElixirPort double: a map of more than 32 keys (hash-trie order) is not modelled",
      );
    }
    keys.sort(byteCompare).reverse();
    return `{${keys.map((k) => `${poisonString(k)}:${poisonEncode(obj[k])}`).join(",")}}`;
  }
  throw new Error(`ElixirPort double: ${typeof value} has no Elixir counterpart`);
}

function poisonNumber(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`ElixirPort double: ${n} has no Elixir counterpart`);
  if (Number.isInteger(n)) return BigInt(n).toString();
  // Shortest round-trip digits, then Erlang's choice: the shorter of fixed and scientific
  // notation, fixed on a tie; both always carry a fractional part (`1.0e-7`, `100.0`).
  const [mantissa = "", expText = "0"] = n.toExponential().split("e");
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const exp = Number(expText);
  const sci = `${digits[0]}.${digits.slice(1) || "0"}e${exp}`;
  let fixed: string;
  if (exp >= 0) {
    const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    fixed = `${whole}.${digits.slice(exp + 1) || "0"}`;
  } else {
    fixed = `0.${"0".repeat(-exp - 1)}${digits}`;
  }
  return (negative ? "-" : "") + (fixed.length <= sci.length ? fixed : sci);
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\t": "\\t",
  "\r": "\\r",
  "\f": "\\f",
  "\b": "\\b",
};

/**
 * Poison 5.0.0's string escaping, including its quirk: after a run of ordinary characters starts,
 * only `"`, a backslash and bytes <= 0x1F end it, so DEL and U+0080–U+009F are escaped only at the
 * start of the string or right after another escape, and written raw anywhere else.
 */
function poisonString(s: string): string {
  let out = '"';
  let atStart = true;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    const short = SHORT_ESCAPES[ch];
    if (cp >= 0xd800 && cp <= 0xdfff) {
      throw new Error("ElixirPort double: a lone surrogate is not valid UTF-8 in Elixir");
    }
    if (short !== undefined) {
      out += short;
      atStart = true;
    } else if (cp <= 0x1f || (atStart && (cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)))) {
      out += `\\u${cp.toString(16).toUpperCase().padStart(4, "0")}`;
      atStart = true;
    } else {
      out += ch;
      atStart = false;
    }
  }
  return `${out}"`;
}

/** Throws the port's `{:error, errors}` reply when there is any error. */
function reject(errors: ElixirValidationError[]): void {
  if (errors.length > 0) throw new ElixirPortRejection(errors);
}

/** Vex `presence`: nil and "" are blank. */
function blank(v: unknown): boolean {
  return v === undefined || v === null || v === "";
}

/** A Vex format check with PCRE's `$`, which also matches before one final newline. */
function formatOk(v: unknown, body: RegExp): boolean {
  if (typeof v !== "string") return false;
  const s = v.endsWith("\n") ? v.slice(0, -1) : v;
  return body.test(s);
}

function checkString(
  key: string,
  v: unknown,
  body: RegExp,
  formatMessage: string,
): ElixirValidationError[] {
  const errors: ElixirValidationError[] = [];
  if (blank(v)) errors.push([key, "missingParameter", `no ${key} supplied`]);
  if (!formatOk(v, body)) errors.push([key, "invalidFormat", formatMessage]);
  return errors;
}

function checkApp(v: unknown): ElixirValidationError[] {
  return checkString("app", v, /^[a-zA-Z0-9_-]{3,20}$/, "Invalid app format");
}

function checkId(v: unknown): ElixirValidationError[] {
  return checkString("id", v, /^[a-zA-Z0-9_-]{1,64}$/, "Invalid id format");
}

function checkToken(v: unknown): ElixirValidationError[] {
  return checkString("token", v, /^[a-zA-Z0-9]{64}$/i, "Invalid token format");
}

/** ip: `^.{1,39}$` on bytes (the regex has no `u` flag), `.` being anything but `\n`. */
function checkIp(v: unknown): ElixirValidationError[] {
  const errors: ElixirValidationError[] = [];
  if (blank(v)) errors.push(["ip", "missingParameter", "no ip supplied"]);
  let ok = false;
  if (typeof v === "string") {
    const s = v.endsWith("\n") ? v.slice(0, -1) : v;
    const bytes = Buffer.byteLength(s, "utf8");
    ok = !s.includes("\n") && bytes >= 1 && bytes <= 39;
  }
  if (!ok) errors.push(["ip", "invalidFormat", "Invalid ip format"]);
  return errors;
}

/** ttl / dt: presence, then `is_integer(x) and x > 10`. */
function checkInteger(key: string, v: unknown, message: string): ElixirValidationError[] {
  const errors: ElixirValidationError[] = [];
  if (blank(v)) errors.push([key, "invalid", "must be present"]);
  if (!(typeof v === "number" && Number.isInteger(v) && v > 10)) {
    errors.push([key, "invalidValue", message]);
  }
  return errors;
}

/** d: any map, or nil. */
function checkD(v: unknown): ElixirValidationError[] {
  if (v === undefined || v === null) return [];
  if (typeof v === "object" && !Array.isArray(v)) return [];
  return [["d", "invalidValue", "d must be an object"]];
}
