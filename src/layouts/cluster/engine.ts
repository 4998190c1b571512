import { errorOf } from "../../errors.js";
import type { Milliseconds } from "../../types.js";
import type { DataEntry, DataLimits } from "../../validate.js";
import type { KeyLayout } from "../compat/keys.js";
import { readAfter, readPosition } from "../cursor.js";
import { type KillTarget, type NewSession, type SessionEngine, setArguments } from "../engine.js";
import type { WipeResult } from "../engine-types.js";
import type { ListPage } from "../listing.js";
import type { SessionReply } from "../reply.js";
import type { Runner, Script, ScriptArg } from "../script.js";
import { ClusterAccount } from "./account.js";
import { AppWide, BATCH } from "./app-wide.js";
import { ClusterLayout } from "./keys.js";
import { AppScan, BucketRegistry } from "./registry.js";
import { byBucket, movedTo, TokenRouter } from "./routing.js";
import * as scripts from "./scripts.js";
import { UserWide } from "./user-wide.js";

/**
 * The Redis Cluster layout (keys.ts) driven by the scripts in scripts.ts. Per-session
 * operations run in one bucket, per-user ones too (user-wide.ts); app-wide ones are in
 * app-wide.ts.
 *
 * There is no key listing all apps (it would be one hot key in one slot), so `wipe` finds apps by
 * a bounded SCAN for their registry keys; session hashes expire by themselves.
 */
export class ClusterEngine implements SessionEngine {
  readonly layout: ClusterLayout;
  readonly channel: string;
  readonly keys: KeyLayout;
  private readonly registry: BucketRegistry;
  private readonly appScan: AppScan;
  private readonly appWide: AppWide;
  private readonly userWide: UserWide;
  private readonly router: TokenRouter;
  private readonly account: ClusterAccount;

  constructor(
    private readonly runner: Runner,
    namespace: string,
    buckets: number,
    private readonly clock: () => string,
    /** Seconds of idleness before a read refreshes activity (0: every read). */
    private readonly touchAfter = 0,
  ) {
    this.layout = new ClusterLayout(namespace, buckets);
    this.channel = this.layout.cacheChannel();
    this.keys = this.layout.view();
    this.registry = new BucketRegistry(runner, this.layout);
    this.appScan = new AppScan(runner.client, this.layout);
    this.appWide = new AppWide(runner, this.layout, this.channel, clock);
    this.userWide = new UserWide(runner, this.layout, this.channel, clock);
    this.router = new TokenRouter(this.layout, this.registry);
    this.account = new ClusterAccount(runner, this.layout, this.channel, clock, this.router);
    // Builds the salt table now rather than on the first request.
    this.layout.tag("_", 0);
  }

  token(_app: string, id: string): string {
    return this.layout.newToken(this.layout.userBucket(id));
  }

  successor(_app: string, token: string): string {
    return this.layout.successor(token);
  }

  async create(app: string, token: string, s: NewSession): Promise<string[]> {
    await this.registry.ready(app);
    return this.account.create(app, token, s, (b, id) => this.userWide.allTokens(app, b, id));
  }

  async get(app: string, token: string, ip = ""): Promise<SessionReply | null> {
    const { reply, via } = await this.router.resolved(app, token, (t, b) =>
      this.run(scripts.getScript, this.tokenKeys(app, b, t), [t, this.touchAfter, ip]),
    );
    if (!Array.isArray(reply)) return null;
    const out = reply as SessionReply;
    out[12] = via ? 1 : 0;
    return out;
  }

  async touch(app: string, tokens: readonly string[]): Promise<string[]> {
    await this.registry.check(app);
    const missing: string[] = [];
    let pending = byBucket(tokens, (t) => this.layout.tokenBucket(t));
    // Tokens that live elsewhere are touched once more, where their pointer says; no further.
    for (let round = 0; round < 2 && pending.size > 0; round++) {
      const moved = new Map<string, number>();
      // Per bucket, in calls of at most BATCH tokens, however many the cache has queued.
      const calls = [...pending].flatMap(([b, all]) =>
        Array.from(
          { length: Math.ceil(all.length / BATCH) },
          (_, i) => [b, all.slice(i * BATCH, (i + 1) * BATCH)] as const,
        ),
      );
      await Promise.all(
        calls.map(async ([b, list]) => {
          const keys = [...this.layout.indexes(app, b)];
          for (const t of list)
            keys.push(this.layout.session(app, b, t), this.layout.pointer(app, b, t));
          const args = [this.touchAfter, ...list];
          const [, ...rest] = (await this.run(scripts.touchScript, keys, args)) as [
            number,
            ...unknown[],
          ];
          // Pairs: token and ">bucket:ttl" when it lives elsewhere, or a null for a missing one.
          for (let i = 0; i + 1 < rest.length; i += 2) {
            const token = String(rest[i]);
            const to = movedTo(rest[i + 1]);
            if (to && round === 0) moved.set(token, to.bucket);
            else missing.push(token);
          }
        }),
      );
      pending = byBucket([...moved.keys()], (t) => moved.get(t) ?? 0);
    }
    return missing;
  }

  async set(
    app: string,
    token: string,
    entries: readonly DataEntry[],
    limits: DataLimits,
  ): Promise<SessionReply | null> {
    const { reply } = await this.router.resolved(app, token, (t, b) =>
      this.runner.run(
        scripts.setScript,
        this.tokenKeys(app, b, t),
        setArguments(this.clock(), this.channel, app, t, entries, limits),
      ),
    );
    return Array.isArray(reply) ? (reply as SessionReply) : null;
  }

  async kill(app: string, token: string, id = ""): Promise<number> {
    const { reply } = await this.router.resolved(app, token, (t, b) =>
      this.run(scripts.killScript, this.tokenKeys(app, b, t), [this.channel, app, t, id]),
    );
    return Number(reply ?? 0) || 0;
  }

  reauthenticated(app: string, token: string): Promise<SessionReply | null> {
    return this.account.reauthenticated(app, token);
  }

  csrfToken(app: string, token: string, candidate: string): Promise<string | null> {
    return this.account.csrfToken(app, token, candidate);
  }

  /** The id and the token moved from, or null (no live session; an alias is not followed). */
  async rotate(
    app: string,
    token: string,
    next: string,
    grace: number,
  ): Promise<{ id: string; from: string } | null> {
    await this.registry.check(app);
    const b = this.layout.tokenBucket(token);
    const args = [this.channel, app, token, next, grace];
    const keysIn = (bucket: number) => [
      ...this.layout.indexes(app, bucket),
      this.layout.session(app, bucket, token),
      this.layout.session(app, bucket, next),
      this.layout.pointer(app, bucket, token),
    ];
    const done = (reply: unknown) =>
      Array.isArray(reply) ? { id: String(reply[0]), from: token } : null;
    const reply = await this.run(scripts.rotateScript, keysIn(b), args);
    const to = movedTo(reply);
    if (!to) return done(reply);
    // A migrated session: `next` routes to b too, so it needs a pointer there, written first so
    // that the new token works the moment rotate returns it.
    const ttl = Number(to.pointer.split(":")[1]) || 0;
    const pointer = this.layout.pointer(app, b, next);
    const set = await this.runner.command((c) => c.set(pointer, to.pointer, "EX", ttl + 5, "NX"));
    if (set !== "OK") throw errorOf("ERS_TOKEN_COLLISION", "token already in use");
    const moved = done(await this.run(scripts.rotateScript, keysIn(to.bucket), args));
    if (moved && "id" in moved) this.router.remember(app, next, to.bucket);
    else await this.runner.command((c) => c.del(pointer));
    return moved;
  }

  async activity(app: string, deltaTime: number): Promise<number> {
    await this.registry.check(app);
    return this.appWide.activity(app, deltaTime);
  }

  async countSessions(app: string, deltaTime: number): Promise<number> {
    await this.registry.check(app);
    return this.appWide.activity(app, deltaTime, "s");
  }

  async soapp(app: string, deltaTime: number): Promise<unknown[]> {
    await this.registry.check(app);
    return this.appWide.soapp(app, deltaTime);
  }

  async soappPage(
    app: string,
    deltaTime: number,
    limit: number,
    cursor: string | null,
  ): Promise<ListPage> {
    readPosition(cursor); // a bad cursor fails before any Redis command
    await this.registry.check(app);
    return this.appWide.soappPage(app, deltaTime, limit, cursor);
  }

  async soid(app: string, id: string): Promise<unknown[]> {
    await this.registry.check(app);
    return this.userWide.soid(app, id);
  }

  async soidPage(app: string, id: string, limit: number, cursor: string | null): Promise<ListPage> {
    readAfter(cursor); // a bad cursor fails before any Redis command
    await this.registry.check(app);
    return this.userWide.soidPage(app, id, limit, cursor);
  }

  async killsoid(app: string, id: string): Promise<{ kill: number; tokens: string[] }> {
    await this.registry.check(app);
    return this.userWide.killsoid(app, id);
  }

  async killall(app: string): Promise<number> {
    await this.registry.check(app);
    return this.appWide.killall(app);
  }

  async wipe(complete = false): Promise<WipeResult> {
    return this.appWide.wipe(await this.appScan.next(complete));
  }

  async takeLease(owner: string, ms: Milliseconds): Promise<boolean> {
    const lease = this.layout.wipeLease();
    return (await this.runner.command((c) => c.set(lease, owner, "PX", ms, "NX"))) === "OK";
  }

  ping(): Promise<string> {
    return this.runner.command((c) => c.ping());
  }

  /**
   * Keys whose slots an operation wrote, for `durableKill`'s WAIT: the bucket a token routes to
   * and, for a migrated token, the bucket it lives in; a user's bucket; every bucket of an app.
   */
  writtenKeys(app: string, target: KillTarget): string[] {
    if (target === "all") {
      return Array.from({ length: this.layout.buckets }, (_, b) => this.layout.indexes(app, b)[0]);
    }
    if ("id" in target) return [this.layout.indexes(app, this.layout.userBucket(target.id))[0]];
    const keys = [this.layout.indexes(app, this.layout.tokenBucket(target.token))[0]];
    const home = this.router.home(app, target.token);
    if (home !== undefined) keys.push(this.layout.indexes(app, home)[0]);
    return keys;
  }

  private tokenKeys(app: string, b: number, token: string): string[] {
    return [
      ...this.layout.indexes(app, b),
      this.layout.session(app, b, token),
      this.layout.pointer(app, b, token),
    ];
  }

  /** Runs a script whose first argument is the clock. */
  private run(script: Script, keys: readonly string[], args: readonly ScriptArg[]) {
    return this.runner.run(script, keys, [this.clock(), ...args]);
  }
}
