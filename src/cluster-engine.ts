import type { Redis } from "ioredis";
import { ClusterLayout } from "./cluster-keys.js";
import * as scripts from "./cluster-scripts.js";
import { type SessionEngine, setArguments } from "./engine.js";
import type { KeyLayout } from "./keys.js";
import type { RedisClient, Script } from "./script.js";
import type { SessionReply } from "./session.js";
import type { DataEntry, DataLimits } from "./validate.js";

/** Sessions per killall or wipe script call: bounded so that one call never blocks Redis long. */
const BATCH = 500;
/** Script calls per bucket and wipe run. */
const WIPE_MAX_BATCHES = 200;
/** Tokens read per script call by soapp. */
const READ_CHUNK = 500;
/** killsoid re-reads a user's tokens at most this often when sessions keep appearing. */
const KILLSOID_ATTEMPTS = 10;
/** Tokens whose session lives outside the bucket they route to, remembered for durableKill. */
const HOMES_MAX = 10_000;

/** A script's answer that the token lives in another bucket: `">bucket:ttl"`. */
function movedTo(reply: unknown): { bucket: number; pointer: string } | undefined {
  if (typeof reply !== "string" || !reply.startsWith(">")) return undefined;
  const pointer = reply.slice(1);
  const bucket = Number.parseInt(pointer, 10);
  return Number.isSafeInteger(bucket) ? { bucket, pointer } : undefined;
}

interface Recent {
  score: number;
  member: string;
  token: string;
  reply: unknown;
}

/** Most recent first; ties in the reverse byte order of the member, as ZRANGE … REV gives. */
function byRecency(a: Recent, b: Recent): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.member < b.member ? 1 : a.member > b.member ? -1 : 0;
}

/**
 * The Redis Cluster layout (src/cluster-keys.ts) driven by the scripts in
 * src/cluster-scripts.ts. Per-session and per-user operations run in one bucket; app-wide ones
 * (activity, soapp, killall, wipe) run in every bucket concurrently and add up or merge the
 * results, which stay exact because a user's sessions never span buckets.
 *
 * There is no key listing all apps (it would be one hot key in one slot), so `wipe` cleans the
 * indexes of the apps this process has used; session hashes expire by themselves.
 */
export class ClusterEngine implements SessionEngine {
  readonly layout: ClusterLayout;
  readonly channel: string;
  readonly lease: string;
  /** A compat-shaped view of the key names, for tools (see {@link ClusterLayout.view}). */
  readonly keys: KeyLayout;
  /** Apps this process has used, each with its one-time check of the bucket count. */
  private readonly apps = new Map<string, Promise<void>>();
  /** Every app this process has used, for wipe. */
  private readonly used = new Set<string>();
  private readonly homes = new Map<string, number>();

  /**
   * `timeout`: the budget of one script call (EVALSHA and a NOSCRIPT fallback together).
   * `callTimeout`: a deadline for each call, for clients that may hold a command where
   * ioredis' commandTimeout does not apply (a Cluster's offline queue).
   */
  constructor(
    private readonly client: RedisClient,
    namespace: string,
    buckets: number,
    private readonly timeout?: number,
    private readonly callTimeout?: number,
  ) {
    this.layout = new ClusterLayout(namespace, buckets);
    this.channel = this.layout.cacheChannel();
    this.lease = this.layout.wipeLease();
    this.keys = this.layout.view();
    // Builds the salt table now rather than on the first request.
    this.layout.tag("_", 0);
  }

  token(_app: string, id: string): string {
    return this.layout.newToken(this.layout.userBucket(id));
  }

  successor(_app: string, token: string): string {
    return this.layout.successor(token);
  }

  async create(
    now: string,
    app: string,
    token: string,
    s: { id: string; ip: string; ttl: number; d: string; noResave: boolean },
  ): Promise<void> {
    await this.ready(app);
    const b = this.layout.tokenBucket(token);
    await this.run(
      scripts.createScript,
      [...this.layout.indexes(app, b), this.layout.session(app, b, token)],
      [now, token, s.id, s.ip, s.ttl, s.d, s.noResave ? "1" : ""],
    );
  }

  async get(now: string, app: string, token: string, count: boolean): Promise<SessionReply | null> {
    const reply = await this.routed(app, token, (b) =>
      this.run(scripts.getScript, this.tokenKeys(app, b, token), [now, token, count ? 1 : 0]),
    );
    return (reply as SessionReply | null) ?? null;
  }

  async touch(now: string, app: string, tokens: readonly string[]): Promise<number> {
    await this.ready(app);
    let touched = 0;
    let pending = this.byBucket(tokens, (t) => this.layout.tokenBucket(t));
    // Tokens that live elsewhere are touched once more, where their pointer says; no further.
    for (let round = 0; round < 2 && pending.size > 0; round++) {
      const moved: { token: string; bucket: number }[] = [];
      await Promise.all(
        [...pending].map(async ([b, list]) => {
          const keys = [...this.layout.indexes(app, b)];
          for (const t of list)
            keys.push(this.layout.session(app, b, t), this.layout.pointer(app, b, t));
          const [n, ...rest] = (await this.run(scripts.touchScript, keys, [now, ...list])) as [
            number,
            ...string[],
          ];
          touched += Number(n);
          for (let i = 0; i + 1 < rest.length; i += 2) {
            const to = movedTo(rest[i + 1]);
            if (to && round === 0) moved.push({ token: rest[i] as string, bucket: to.bucket });
          }
        }),
      );
      pending = this.byBucket(
        moved.map((m) => m.token),
        (t) => moved.find((m) => m.token === t)?.bucket ?? 0,
      );
    }
    return touched;
  }

  async set(
    now: string,
    app: string,
    token: string,
    entries: readonly DataEntry[],
    limits: DataLimits,
  ): Promise<SessionReply | null> {
    const args = setArguments(now, this.channel, app, token, entries, limits);
    const reply = await this.routed(app, token, (b) =>
      this.run(scripts.setScript, this.tokenKeys(app, b, token), args),
    );
    return (reply as SessionReply | null) ?? null;
  }

  async kill(now: string, app: string, token: string): Promise<number> {
    const reply = await this.routed(app, token, (b) =>
      this.run(scripts.killScript, this.tokenKeys(app, b, token), [now, this.channel, app, token]),
    );
    return Number(reply ?? 0);
  }

  async rotate(now: string, app: string, token: string, next: string): Promise<boolean> {
    await this.ready(app);
    const b = this.layout.tokenBucket(token);
    const args = [now, this.channel, app, token, next];
    const keysIn = (bucket: number) => [
      ...this.layout.indexes(app, bucket),
      this.layout.session(app, bucket, token),
      this.layout.session(app, bucket, next),
      this.layout.pointer(app, bucket, token),
    ];
    const reply = await this.run(scripts.rotateScript, keysIn(b), args);
    const to = movedTo(reply);
    if (!to) return Number(reply) === 1;
    // A migrated session: `next` routes to b too, so it needs a pointer there, written first so
    // that the new token works the moment rotate returns it.
    const ttl = Number(to.pointer.split(":")[1]) || 0;
    const pointer = this.layout.pointer(app, b, next);
    const set = await this.command(() =>
      (this.client as Redis).set(pointer, to.pointer, "EX", ttl + 5, "NX"),
    );
    if (set !== "OK") throw new Error("ERS_TOKEN_COLLISION token already in use");
    const moved = Number(await this.run(scripts.rotateScript, keysIn(to.bucket), args)) === 1;
    if (moved) this.remember(app, next, to.bucket);
    else await this.command(() => (this.client as Redis).del(pointer));
    return moved;
  }

  async activity(now: string, app: string, deltaTime: number): Promise<number> {
    await this.ready(app);
    const counts = await Promise.all(
      this.buckets().map((b) =>
        this.run(scripts.activityScript, this.layout.indexes(app, b), [now, deltaTime]),
      ),
    );
    return counts.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  async soapp(now: string, app: string, deltaTime: number): Promise<unknown[]> {
    await this.ready(app);
    const lists = await Promise.all(this.buckets().map((b) => this.recent(now, app, b, deltaTime)));
    const all = lists.flat().sort(byRecency);
    return all.flatMap((r) => [r.token, r.reply]);
  }

  async soid(now: string, app: string, id: string): Promise<unknown[]> {
    await this.ready(app);
    const b = this.layout.userBucket(id);
    const tokens = (await this.run(scripts.tokensScript, this.layout.indexes(app, b), [
      id,
    ])) as string[];
    if (tokens.length === 0) return [];
    return (await this.run(scripts.readScript, this.sessionKeys(app, b, tokens), [
      now,
      id,
      ...tokens,
    ])) as unknown[];
  }

  async killsoid(
    now: string,
    app: string,
    id: string,
  ): Promise<{ kill: number; tokens: string[] }> {
    await this.ready(app);
    const b = this.layout.userBucket(id);
    for (let attempt = 0; attempt < KILLSOID_ATTEMPTS; attempt++) {
      const tokens = (await this.run(scripts.tokensScript, this.layout.indexes(app, b), [
        id,
      ])) as string[];
      const [kill, ...killed] = (await this.run(
        scripts.killsoidScript,
        this.sessionKeys(app, b, tokens),
        [now, this.channel, app, id, ...tokens],
      )) as [number, ...string[]];
      if (Number(kill) >= 0) return { kill: Number(kill), tokens: killed };
    }
    throw new Error("killsoid: the sessions of this id kept changing; try again");
  }

  async killall(now: string, app: string): Promise<number> {
    await this.ready(app);
    const counts = await Promise.all(this.buckets().map((b) => this.killBucket(now, app, b)));
    return counts.reduce((sum, n) => sum + n, 0);
  }

  async wipe(now: string): Promise<number> {
    let removed = 0;
    for (const app of this.used) {
      const counts = await Promise.all(this.buckets().map((b) => this.wipeBucket(now, app, b)));
      removed += counts.reduce((sum, n) => sum + n, 0);
    }
    return removed;
  }

  /**
   * Keys whose slots an operation wrote, for `durableKill`'s WAIT: the bucket a token routes to
   * and, for a migrated token, the bucket it lives in; a user's bucket; every bucket of an app.
   */
  writtenKeys(app: string, target: { token: string } | { id: string } | "all"): string[] {
    if (target === "all") return this.buckets().map((b) => this.layout.indexes(app, b)[0]);
    if ("id" in target) return [this.layout.indexes(app, this.layout.userBucket(target.id))[0]];
    const keys = [this.layout.indexes(app, this.layout.tokenBucket(target.token))[0]];
    const home = this.homes.get(`${app}:${target.token}`);
    if (home !== undefined) keys.push(this.layout.indexes(app, home)[0]);
    return keys;
  }

  /** The apps this process has used (what `wipe` cleans). */
  usedApps(): string[] {
    return [...this.used];
  }

  /**
   * Checks once per app and process that Redis holds the same bucket count as this store: with
   * another count, users would map to other buckets and killsoid would miss their sessions.
   * Only a mismatch fails the operation: when the registry's node cannot answer, the operation
   * goes on (it needs only its own bucket's node) and the check is made again next time.
   */
  ready(app: string): Promise<void> {
    let check = this.apps.get(app);
    if (!check) {
      this.used.add(app);
      const n = String(this.layout.buckets);
      const attempt: Promise<void> = this.command(() =>
        (this.client as Redis).set(this.layout.registry(app), n, "NX", "GET"),
      ).then(
        (stored) => {
          if (stored !== null && stored !== n) {
            this.apps.delete(app);
            throw new Error(
              `ERS_BUCKETS_MISMATCH app "${app}" has ${stored} buckets in Redis but this store is configured with ${n}`,
            );
          }
        },
        () => {
          if (this.apps.get(app) === attempt) this.apps.delete(app);
        },
      );
      check = attempt;
      this.apps.set(app, check);
    }
    return check;
  }

  private async recent(now: string, app: string, b: number, deltaTime: number) {
    const flat = (await this.run(scripts.recentScript, this.layout.indexes(app, b), [
      now,
      deltaTime,
    ])) as string[];
    const found: Recent[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i] as string;
      found.push({ member, score: Number(flat[i + 1]), token: member.slice(0, 64), reply: null });
    }
    const replies = new Map<string, unknown>();
    for (let i = 0; i < found.length; i += READ_CHUNK) {
      const tokens = found.slice(i, i + READ_CHUNK).map((r) => r.token);
      const read = (await this.run(scripts.readScript, this.sessionKeys(app, b, tokens), [
        now,
        "",
        ...tokens,
      ])) as unknown[];
      for (let j = 0; j + 1 < read.length; j += 2) replies.set(read[j] as string, read[j + 1]);
    }
    const out: Recent[] = [];
    for (const r of found) {
      const reply = replies.get(r.token);
      if (reply) out.push({ ...r, reply });
    }
    return out;
  }

  private async killBucket(now: string, app: string, b: number): Promise<number> {
    const [sessions] = this.layout.indexes(app, b);
    let kill = 0;
    let previous = Number.POSITIVE_INFINITY;
    for (;;) {
      const members = await this.command(() =>
        (this.client as Redis).zrange(sessions, "0", String(BATCH - 1)),
      );
      const keys = [...this.layout.indexes(app, b)];
      for (const m of members) keys.push(this.layout.session(app, b, m.slice(0, 64)));
      const [n, remaining] = (await this.run(scripts.killallScript, keys, [
        now,
        this.channel,
        app,
        ...members,
      ])) as [number, number];
      kill += Number(n);
      // n counts live sessions only, so a batch of expired ones (n = 0) must not end the loop.
      // Stop when nothing is left or when sessions are created faster than they are killed.
      if (Number(remaining) === 0 || Number(remaining) >= previous) break;
      previous = Number(remaining);
    }
    return kill;
  }

  private async wipeBucket(now: string, app: string, b: number): Promise<number> {
    let removed = 0;
    for (let i = 0; i < WIPE_MAX_BATCHES; i++) {
      const members = (await this.run(scripts.expiredScript, this.layout.indexes(app, b), [
        now,
        BATCH,
      ])) as string[];
      if (members.length === 0) break;
      const keys = [...this.layout.indexes(app, b)];
      for (const m of members) keys.push(this.layout.session(app, b, m.slice(0, 64)));
      const [n] = (await this.run(scripts.wipeScript, keys, [
        now,
        this.channel,
        app,
        ...members,
      ])) as [number];
      removed += Number(n);
      if (members.length < BATCH) break;
    }
    return removed;
  }

  /**
   * Runs `op` in the bucket the token routes to and, when the answer is that the session lives
   * in another bucket (a migrated token), once more there. Null when it is nowhere.
   */
  private async routed(
    app: string,
    token: string,
    op: (bucket: number) => Promise<unknown>,
  ): Promise<unknown> {
    await this.ready(app);
    const first = await op(this.layout.tokenBucket(token));
    const to = movedTo(first);
    if (!to) return first;
    this.remember(app, token, to.bucket);
    const second = await op(to.bucket);
    return movedTo(second) ? null : second;
  }

  private remember(app: string, token: string, bucket: number): void {
    const key = `${app}:${token}`;
    this.homes.delete(key);
    this.homes.set(key, bucket);
    if (this.homes.size > HOMES_MAX) {
      const oldest = this.homes.keys().next().value;
      if (oldest !== undefined) this.homes.delete(oldest);
    }
  }

  private tokenKeys(app: string, b: number, token: string): string[] {
    return [
      ...this.layout.indexes(app, b),
      this.layout.session(app, b, token),
      this.layout.pointer(app, b, token),
    ];
  }

  private sessionKeys(app: string, b: number, tokens: readonly string[]): string[] {
    return [...this.layout.indexes(app, b), ...tokens.map((t) => this.layout.session(app, b, t))];
  }

  private buckets(): number[] {
    return Array.from({ length: this.layout.buckets }, (_, b) => b);
  }

  private byBucket(tokens: readonly string[], bucketOf: (t: string) => number) {
    const out = new Map<number, string[]>();
    for (const t of tokens) {
      const b = bucketOf(t);
      const list = out.get(b);
      if (list) list.push(t);
      else out.set(b, [t]);
    }
    return out;
  }

  private run(script: Script, keys: readonly string[], args: readonly (string | number)[]) {
    return this.command(() => script.run(this.client, keys, args, this.timeout));
  }

  /**
   * One command, bounded by `callTimeout` when set: a Cluster client may hold a command in its
   * offline queue (no node ready) where ioredis' commandTimeout does not apply yet.
   */
  private command<T>(op: () => Promise<T>): Promise<T> {
    const limit = this.callTimeout;
    if (limit === undefined) return op();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      op(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("Command timed out")), limit);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}
