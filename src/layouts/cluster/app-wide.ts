import type { Runner } from "../script.js";
import type { ClusterLayout } from "./keys.js";
import * as scripts from "./scripts.js";

/** Sessions per killall or wipe script call: bounded so that one call never blocks Redis long. */
const BATCH = 500;
/** Script calls per bucket and wipe run. */
const WIPE_MAX_BATCHES = 200;
/** Tokens read per script call by soapp. */
const READ_CHUNK = 500;

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
 * The cluster layout's app-wide operations: each runs in every bucket of the app concurrently and
 * adds up or merges the results, which stay exact because a user's sessions never span buckets.
 */
export class AppWide {
  constructor(
    private readonly runner: Runner,
    private readonly layout: ClusterLayout,
    private readonly channel: string,
    private readonly clock: () => string,
  ) {}

  async activity(app: string, deltaTime: number): Promise<number> {
    const counts = await this.everyBucket((b) =>
      this.runner.run(scripts.activityScript, this.layout.indexes(app, b), [
        this.clock(),
        deltaTime,
      ]),
    );
    return counts.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  async soapp(app: string, deltaTime: number): Promise<unknown[]> {
    const lists = await this.everyBucket((b) => this.recent(app, b, deltaTime));
    return lists
      .flat()
      .sort(byRecency)
      .flatMap((r) => [r.token, r.reply]);
  }

  async killall(app: string): Promise<number> {
    const counts = await this.everyBucket((b) => this.killBucket(app, b));
    return counts.reduce((sum, n) => sum + n, 0);
  }

  async wipe(apps: readonly string[]): Promise<number> {
    let removed = 0;
    for (const app of apps) {
      const counts = await this.everyBucket((b) => this.wipeBucket(app, b));
      removed += counts.reduce((sum, n) => sum + n, 0);
    }
    return removed;
  }

  private everyBucket<T>(op: (bucket: number) => Promise<T>): Promise<T[]> {
    return Promise.all(Array.from({ length: this.layout.buckets }, (_, b) => op(b)));
  }

  private sessionKeys(app: string, b: number, tokens: readonly string[]): string[] {
    return [...this.layout.indexes(app, b), ...tokens.map((t) => this.layout.session(app, b, t))];
  }

  private async recent(app: string, b: number, deltaTime: number): Promise<Recent[]> {
    const now = this.clock();
    const flat = (await this.runner.run(scripts.recentScript, this.layout.indexes(app, b), [
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
      const read = (await this.runner.run(scripts.readScript, this.sessionKeys(app, b, tokens), [
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

  private async killBucket(app: string, b: number): Promise<number> {
    const [sessions] = this.layout.indexes(app, b);
    let kill = 0;
    let previous = Number.POSITIVE_INFINITY;
    for (;;) {
      const members = await this.runner.command((c) => c.zrange(sessions, "0", String(BATCH - 1)));
      const tokens = members.map((m) => m.slice(0, 64));
      const [n, remaining] = (await this.runner.run(
        scripts.killallScript,
        this.sessionKeys(app, b, tokens),
        [this.clock(), this.channel, app, ...members],
      )) as [number, number];
      kill += Number(n);
      // n counts live sessions only, so a batch of expired ones (n = 0) must not end the loop.
      // Stop when nothing is left or when sessions are created faster than they are killed.
      if (Number(remaining) === 0 || Number(remaining) >= previous) break;
      previous = Number(remaining);
    }
    return kill;
  }

  private async wipeBucket(app: string, b: number): Promise<number> {
    let removed = 0;
    for (let i = 0; i < WIPE_MAX_BATCHES; i++) {
      const members = (await this.runner.run(scripts.expiredScript, this.layout.indexes(app, b), [
        this.clock(),
        BATCH,
      ])) as string[];
      if (members.length === 0) break;
      const tokens = members.map((m) => m.slice(0, 64));
      const [n] = (await this.runner.run(scripts.wipeScript, this.sessionKeys(app, b, tokens), [
        this.clock(),
        this.channel,
        app,
        ...members,
      ])) as [number];
      removed += Number(n);
      if (members.length < BATCH) break;
    }
    return removed;
  }
}
