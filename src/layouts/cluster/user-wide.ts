import { errorOf } from "../../errors.js";
import { readAfter, writeAfter } from "../cursor.js";
import type { ListPage } from "../listing.js";
import type { Runner } from "../script.js";
import { BATCH } from "./app-wide.js";
import type { ClusterLayout } from "./keys.js";
import * as scripts from "./scripts.js";

/** Script rounds a paged soid makes to fill one page (when many sessions are expired). */
const PAGE_ROUNDS = 10;

/**
 * The cluster layout's operations on every session of one id, all in the id's bucket, in
 * bounded batches: a read of the user index (`_ut`), then a script that declares the hashes.
 */
export class UserWide {
  constructor(
    private readonly runner: Runner,
    private readonly layout: ClusterLayout,
    private readonly channel: string,
    private readonly clock: () => string,
  ) {}

  /** One page of soid, in token order. */
  async soidPage(app: string, id: string, limit: number, cursor: string | null): Promise<ListPage> {
    const b = this.layout.userBucket(id);
    let after = readAfter(cursor);
    const list: unknown[] = [];
    for (let round = 0; round < PAGE_ROUNDS && list.length < 2 * limit; round++) {
      const n = Math.min(BATCH, limit - list.length / 2);
      const [more, ...tokens] = await this.tokens(app, b, id, after, n);
      if (tokens.length > 0) {
        const read = (await this.runner.run(scripts.readScript, this.sessionKeys(app, b, tokens), [
          this.clock(),
          id,
          ...tokens,
        ])) as unknown[];
        list.push(...read);
      }
      if (!more) return { list, cursor: null };
      after = more;
    }
    return { list, cursor: writeAfter(after) };
  }

  /** Every live session of one id, from bounded pages. */
  async soid(app: string, id: string): Promise<unknown[]> {
    const out: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.soidPage(app, id, BATCH, cursor);
      out.push(...page.list);
      cursor = page.cursor;
    } while (cursor !== null);
    return out;
  }

  /**
   * Kills every session of one id in bounded batches until none is left, sessions created while
   * it runs included. Not atomic as a whole: a reader may see some of the id's sessions gone and
   * others not yet. When sessions keep appearing faster than they are killed, it stops with
   * ERS_STORE_BUSY rather than run forever.
   */
  async killsoid(app: string, id: string): Promise<{ kill: number; tokens: string[] }> {
    const b = this.layout.userBucket(id);
    let kill = 0;
    const killed: string[] = [];
    let after = "";
    // A bound against sessions created as fast as they are killed: twice the rounds that the
    // id's tokens (and other ids' entries in its range) need now.
    const [, , ut] = this.layout.indexes(app, b);
    const count = await this.runner.command((c) => c.zlexcount(ut, `[${id}\0`, `(${id}\u0001`));
    const budget = 2 * Math.ceil(count / BATCH) + 10;
    for (let round = 0; ; round++) {
      const [more, ...tokens] = await this.tokens(app, b, id, after, BATCH);
      // Killed tokens leave the index, so each batch starts again from the first token, unless
      // a batch held only other ids' entries (an id that starts with this one and a NUL).
      after = tokens.length === 0 && more ? more : "";
      if (tokens.length === 0 && more) {
        if (round >= budget) break;
        continue;
      }
      const [n, left, ...gone] = (await this.runner.run(
        scripts.killsoidScript,
        this.sessionKeys(app, b, tokens),
        [this.clock(), this.channel, app, id, ...tokens],
      )) as [number, number, ...string[]];
      kill += Number(n);
      killed.push(...gone);
      if (Number(left) === 0) return { kill, tokens: killed };
      if (round >= budget) {
        break;
      }
    }
    throw errorOf("ERS_STORE_BUSY", "killsoid: sessions of this id keep appearing; try again");
  }

  /** Every token of id in bucket b (for a capped create), read in bounded batches. */
  async allTokens(app: string, b: number, id: string): Promise<string[]> {
    const out: string[] = [];
    let after = "";
    for (let round = 0; round < 100; round++) {
      const [more, ...tokens] = await this.tokens(app, b, id, after, BATCH);
      out.push(...tokens);
      if (!more) break;
      after = more;
    }
    return out;
  }

  /** Up to n tokens of id past `after`: [where to go on or null, token, …]. */
  private async tokens(
    app: string,
    b: number,
    id: string,
    after: string,
    n: number,
  ): Promise<[string | null, ...string[]]> {
    return (await this.runner.run(scripts.tokensScript, this.layout.indexes(app, b), [
      id,
      after,
      n,
    ])) as [string | null, ...string[]];
  }

  private sessionKeys(app: string, b: number, tokens: readonly string[]): string[] {
    return [...this.layout.indexes(app, b), ...tokens.map((t) => this.layout.session(app, b, t))];
  }
}
