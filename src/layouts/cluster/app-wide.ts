import { readPosition, writePosition } from "../cursor.js";
import type { WipeResult } from "../engine-types.js";
import { byRecency, type Listed, type ListPage, recencyList } from "../listing.js";
import type { SessionReply } from "../reply.js";
import type { Runner } from "../script.js";
import { PREFIX_BYTES } from "../walk-scripts.js";
import type { ClusterLayout } from "./keys.js";
import * as scripts from "./scripts.js";

/** Sessions per script call (walk, read, kill, wipe): one call stays well under 5 ms. */
export const BATCH = 100;
/** Walk calls per bucket and wipe run. */
const WIPE_MAX_BATCHES = 500;
/** Buckets that killall and the wipe work on at a time. */
const REMOVING_LANES = 4;
/** Script rounds a paged soapp makes to fill one page (when many sessions are expired). */
const PAGE_ROUNDS = 10;

interface Found {
  bucket: number;
  member: string;
  score: string;
  ms: number;
}

function hexPrefix(member: string): string {
  return Buffer.from(member).subarray(0, PREFIX_BYTES).toString("hex");
}

/**
 * The cluster layout's app-wide operations: each runs in every bucket of the app concurrently and
 * adds up or merges the results, which stay exact because a user's sessions never span buckets.
 * Every script call handles a bounded batch.
 */
export class AppWide {
  /** Where each bucket's wipe walk goes on (`app:bucket` → position); absent: from the start. */
  private readonly wipeAt = new Map<string, string>();

  constructor(
    private readonly runner: Runner,
    private readonly layout: ClusterLayout,
    private readonly channel: string,
    private readonly clock: () => string,
  ) {}

  /** Ids (`"u"`) or sessions (`"s"`) active within deltaTime. */
  async activity(app: string, deltaTime: number, which: "u" | "s" = "u"): Promise<number> {
    const counts = await this.everyBucket((b) =>
      this.runner.run(scripts.activityScript, this.layout.indexes(app, b), [
        this.clock(),
        deltaTime,
        which,
      ]),
    );
    return counts.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /**
   * One page of soapp across all buckets, most recent first: each bucket is walked from the
   * same position, the results merged, and the sessions of the first `limit` read.
   */
  async soappPage(
    app: string,
    dt: number,
    limit: number,
    cursor: string | null,
  ): Promise<ListPage> {
    let at = readPosition(cursor);
    const list: unknown[] = [];
    for (let round = 0; round < PAGE_ROUNDS && list.length < 2 * limit; round++) {
      const n = Math.min(BATCH, limit - list.length / 2);
      const position = at ? [at.range, at.score, at.hex] : ["", "", ""];
      const walks = await this.everyBucket((b) =>
        this.walk(app, b, dt, "+inf", "desc", n, position),
      );
      const taken = walks
        .flatMap((w) => w.found)
        .sort(byRecency)
        .slice(0, n);
      const last = taken[taken.length - 1];
      const replies = await this.read(app, taken);
      for (const f of taken) {
        const reply = replies.get(f.member);
        if (reply) list.push(f.member.slice(0, 64), reply);
      }
      // Done when no bucket may go on and every member found was taken.
      const found = walks.reduce((sum, w) => sum + w.found.length, 0);
      if (!last || (walks.every((w) => !w.more) && taken.length === found))
        return { list, cursor: null };
      at = { range: "s", score: last.score, hex: hexPrefix(last.member) };
    }
    return { list, cursor: at ? writePosition([at.range, at.score, at.hex]) : null };
  }

  /**
   * Every session active within deltaTime, most recent first. Each bucket is walked upwards in
   * time, so a session used while the listing runs is met again rather than missed; each is
   * listed once, as last seen.
   */
  async soapp(app: string, deltaTime: number): Promise<unknown[]> {
    const lists = await this.everyBucket(async (b) => {
      const seen = new Map<string, Listed>();
      const count = await this.runner.run(scripts.activityScript, this.layout.indexes(app, b), [
        this.clock(),
        deltaTime,
        "s",
      ]);
      const budget = 2 * Math.ceil(Number(count) / BATCH) + 10;
      let position = ["", "", ""];
      for (let call = 0; call < budget; call++) {
        const { found, more } = await this.walk(app, b, deltaTime, "+inf", "asc", BATCH, position);
        const replies = await this.read(app, found);
        for (const f of found) {
          const reply = replies.get(f.member);
          if (reply)
            seen.set(f.member, { token: f.member.slice(0, 64), reply, member: f.member, ms: f.ms });
        }
        const last = found[found.length - 1];
        if (!more || !last) break;
        position = ["s", last.score, hexPrefix(last.member)];
      }
      return [...seen.values()];
    });
    return recencyList(lists.flat());
  }

  async killall(app: string): Promise<number> {
    const counts = await this.everyBucket((b) => this.killBucket(app, b), REMOVING_LANES);
    return counts.reduce((sum, n) => sum + n, 0);
  }

  /**
   * Removes the index entries of expired sessions (their hashes expire by themselves) in each
   * bucket of `apps`: a walk of `_sessions` from the least recent end, in bounded batches, going
   * on next run where this one stopped.
   */
  async wipe(apps: readonly string[]): Promise<WipeResult> {
    const result: WipeResult = { removed: 0, sessions: [] };
    for (const app of apps) {
      await this.everyBucket((b) => this.wipeBucket(app, b, result), REMOVING_LANES);
    }
    return result;
  }

  /**
   * Runs `op` for every bucket, at most `parallel` at a time (all at once by default: a bucket's
   * calls are short reads). Mass removals go a few buckets at a time: freeing memory from 60
   * buckets at once made the allocator stall single commands for tens of ms (measured).
   */
  private async everyBucket<T>(
    op: (bucket: number) => Promise<T>,
    parallel = Infinity,
  ): Promise<T[]> {
    const out: T[] = new Array(this.layout.buckets);
    let next = 0;
    const lanes = Math.min(parallel, this.layout.buckets);
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < this.layout.buckets) {
          const b = next++;
          out[b] = await op(b);
        }
      }),
    );
    return out;
  }

  /** One bounded walk of a bucket's `_sessions` (see walkScript). */
  private async walk(
    app: string,
    b: number,
    from: number | "",
    to: "+inf" | "now",
    direction: "desc" | "asc",
    n: number,
    position: string[],
  ): Promise<{ found: Found[]; more: boolean }> {
    const [more, ...flat] = (await this.runner.run(
      scripts.walkScript,
      this.layout.indexes(app, b),
      [this.clock(), from, to, direction, n, ...position],
    )) as [number, ...string[]];
    const found: Found[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const score = flat[i + 1] as string;
      found.push({ bucket: b, member: flat[i] as string, score, ms: Number(score) * 1000 });
    }
    return { found, more: Number(more) === 1 };
  }

  /** The live sessions of found members, read bucket by bucket: member → reply. */
  private async read(app: string, found: readonly Found[]): Promise<Map<string, SessionReply>> {
    const byBucket = new Map<number, string[]>();
    for (const f of found) {
      const list = byBucket.get(f.bucket);
      if (list) list.push(f.member);
      else byBucket.set(f.bucket, [f.member]);
    }
    const out = new Map<string, SessionReply>();
    await Promise.all(
      [...byBucket].map(async ([b, members]) => {
        const tokens = members.map((m) => m.slice(0, 64));
        const read = (await this.runner.run(scripts.readScript, this.sessionKeys(app, b, tokens), [
          this.clock(),
          "",
          ...tokens,
        ])) as unknown[];
        const byToken = new Map<string, SessionReply>();
        for (let j = 0; j + 1 < read.length; j += 2) {
          byToken.set(read[j] as string, read[j + 1] as SessionReply);
        }
        for (const m of members) {
          const reply = byToken.get(m.slice(0, 64));
          if (reply) out.set(m, reply);
        }
      }),
    );
    return out;
  }

  private sessionKeys(app: string, b: number, tokens: readonly string[]): string[] {
    return [...this.layout.indexes(app, b), ...tokens.map((t) => this.layout.session(app, b, t))];
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

  private async wipeBucket(app: string, b: number, result: WipeResult): Promise<void> {
    const key = `${app}:${b}`;
    const saved = this.wipeAt.get(key);
    let position = saved ? saved.split(" ") : ["", "", ""];
    for (let i = 0; i < WIPE_MAX_BATCHES; i++) {
      const { found, more } = await this.walk(app, b, "", "now", "asc", BATCH, position);
      const last = found[found.length - 1];
      if (last) {
        const members = found.map((f) => f.member);
        const [n, , ...gone] = (await this.runner.run(
          scripts.wipeScript,
          this.sessionKeys(
            app,
            b,
            members.map((m) => m.slice(0, 64)),
          ),
          [this.clock(), this.channel, app, ...members],
        )) as [number, number, ...string[]];
        result.removed += Number(n);
        for (let j = 0; j + 1 < gone.length; j += 2) {
          result.sessions.push({ app, token: String(gone[j]), id: String(gone[j + 1]) });
        }
      }
      if (!more || !last) {
        this.wipeAt.delete(key);
        return;
      }
      position = ["s", last.score, hexPrefix(last.member)];
    }
    this.wipeAt.set(key, position.join(" "));
  }
}
