import { errorOf } from "../../errors.js";
import { readPosition, readScan, writePosition, writeScan } from "../cursor.js";
import { readWiped, type WipeResult } from "../engine-types.js";
import { type Listed, type ListPage, readListed, recencyList } from "../listing.js";
import type { Runner, Script, ScriptArg } from "../script.js";
import * as scripts from "./scripts.js";

/*
 * Batch sizes: each is the most that one script call handles, chosen so that a call stays well
 * under 5 ms of Redis time at a million sessions (figures in docs/scaling.md).
 */
/** Sessions read per soapp or soid script call. */
export const PAGE_BATCH = 100;
/** Sessions killed per killsoid or killall script call. */
export const KILL_BATCH = 100;
/** Sessions examined per wipe script call, and calls per wipe run (for each pass). */
export const WIPE_BATCH = 100;
const WIPE_MAX_BATCHES = 500;
/** Index entries examined per repair call, and calls per wipe run. */
const REPAIR_BATCH = 500;
const REPAIR_MAX_BATCHES = 200;
/** Apps whose _users the repair sweeps (those seen in SESSIONS; more are left for later). */
const REPAIR_MAX_APPS = 1000;
/** Script calls a paged listing makes to fill one page (when many sessions are expired). */
const PAGE_CALLS = 10;

/**
 * The compat layout's operations over a whole app or a whole user, each in bounded script calls
 * (one call never walks a whole index): soapp, soid, activity, killsoid, killall and the wipe.
 */
export class CompatAppWide {
  /** Where the repair sweep of SESSIONS goes on, and of each app's _users. */
  private repairAt = 0;
  private readonly usersAt = new Map<string, number>();

  constructor(
    private readonly runner: Runner,
    private readonly prefix: string,
    private readonly clock: () => string,
  ) {}

  /** Ids (`"_users"`) or sessions (`"_sessions"`) active within deltaTime, any score format. */
  async activity(app: string, deltaTime: number, index = "_users"): Promise<number> {
    return Number(await this.run(scripts.activityScript, [app, deltaTime, index]));
  }

  /** One page of soapp, most recent first (`asc`: least recent first). */
  async soappPage(
    app: string,
    deltaTime: number,
    limit: number,
    cursor: string | null,
    direction: "desc" | "asc" = "desc",
  ): Promise<ListPage & { items: Listed[] }> {
    const items: Listed[] = [];
    const at = readPosition(cursor);
    let next: unknown = at ? [at.range, at.score, at.hex] : null;
    for (let call = 0; call < PAGE_CALLS && items.length < limit; call++) {
      const n = Math.min(PAGE_BATCH, limit - items.length);
      const position = (next as string[] | null) ?? ["", "", ""];
      const reply = (await this.run(scripts.soappScript, [
        app,
        deltaTime,
        direction,
        n,
        ...position,
      ])) as unknown[];
      readListed(reply, 1, items);
      next = reply[0] ?? null;
      if (next === null) break;
    }
    const list = items.flatMap((r) => [r.token, r.reply]);
    return { items, list, cursor: next === null ? null : writePosition(next) };
  }

  /**
   * Every session active within deltaTime, most recent first, from bounded pages. The pages
   * walk upwards in time, so a session used while the listing runs moves ahead of the walk and
   * is met again rather than missed; each is listed once, as last seen.
   */
  async soapp(app: string, deltaTime: number): Promise<unknown[]> {
    const seen = new Map<string, Listed>();
    // A bound against an app so busy that the walk never reaches the present.
    const budget =
      2 * Math.ceil((await this.activity(app, deltaTime, "_sessions")) / PAGE_BATCH) + 10;
    let cursor: string | null = null;
    for (let call = 0; call < budget; call++) {
      const page = await this.soappPage(app, deltaTime, PAGE_BATCH, cursor, "asc");
      for (const item of page.items) seen.set(item.member, item);
      cursor = page.cursor;
      if (cursor === null) break;
    }
    return recencyList(seen.values());
  }

  /** One page of soid. */
  async soidPage(app: string, id: string, limit: number, cursor: string | null): Promise<ListPage> {
    let { scan, after } = readScan(cursor);
    const list: unknown[] = [];
    for (let call = 0; call < PAGE_CALLS && list.length < 2 * limit; call++) {
      const n = Math.min(PAGE_BATCH, limit - list.length / 2);
      const [next, more, ...flat] = (await this.run(scripts.soidScript, [
        app,
        id,
        scan,
        n,
        after,
      ])) as [string, string | null, ...unknown[]];
      list.push(...flat);
      scan = next;
      after = more ?? "";
      if (scan === "0" && !after) return { list, cursor: null };
    }
    return { list, cursor: writeScan(scan, after) };
  }

  /** Every live session of one id, from bounded SSCAN pages (each token once). */
  async soid(app: string, id: string): Promise<unknown[]> {
    const out: unknown[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await this.soidPage(app, id, PAGE_BATCH, cursor);
      for (let i = 0; i + 1 < page.list.length; i += 2) {
        const token = page.list[i] as string;
        if (seen.has(token)) continue;
        seen.add(token);
        out.push(token, page.list[i + 1]);
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return out;
  }

  /**
   * Kills every session of one id in bounded batches, until its set of tokens is empty, so that
   * sessions created while it runs are killed too. Not atomic as a whole (as v4's MULTI was): a
   * reader may see some of the id's sessions gone and others not yet. When sessions keep being
   * created faster than they are killed, it stops with ERS_STORE_BUSY rather than run forever.
   */
  async killsoid(app: string, id: string): Promise<{ kill: number; tokens: string[] }> {
    let kill = 0;
    const tokens: string[] = [];
    let budget = Number.POSITIVE_INFINITY;
    for (let round = 0; ; round++) {
      const [n, left, ...batch] = (await this.run(scripts.killsoidScript, [
        app,
        id,
        KILL_BATCH,
      ])) as [number, number, ...string[]];
      kill += Number(n);
      tokens.push(...batch);
      if (Number(left) === 0) return { kill, tokens };
      if (budget === Number.POSITIVE_INFINITY)
        budget = 2 * Math.ceil(Number(left) / KILL_BATCH) + 10;
      if (round >= budget) {
        throw errorOf("ERS_STORE_BUSY", "killsoid: sessions of this id keep appearing; try again");
      }
    }
  }

  async killall(app: string): Promise<number> {
    let kill = 0;
    let previous = Number.POSITIVE_INFINITY;
    for (;;) {
      const [n, remaining] = (await this.run(scripts.killallScript, [app, KILL_BATCH])) as [
        number,
        number,
      ];
      kill += Number(n);
      // n counts live sessions only, so a batch of expired ones (n = 0) must not end the loop.
      // Each batch removes what it examined; stop when nothing is left or when sessions are
      // created faster than they are killed (then the index does not shrink).
      if (Number(remaining) === 0 || Number(remaining) >= previous) break;
      previous = Number(remaining);
    }
    return kill;
  }

  /**
   * Removes expired sessions (scores in seconds, then the Elixir port's), then repairs a
   * bounded share of the `_users` index. Resolves to the number of sessions removed.
   */
  async wipe(): Promise<WipeResult> {
    const result: WipeResult = { removed: 0, sessions: [] };
    for (const script of [scripts.wipeScript, scripts.elixirWipeScript]) {
      for (let i = 0; i < WIPE_MAX_BATCHES; i++) {
        const [n, examined, ...gone] = (await this.run(script, [WIPE_BATCH])) as [
          number,
          number,
          ...string[],
        ];
        result.removed += Number(n);
        readWiped(gone, result.sessions);
        if (Number(examined) < WIPE_BATCH) break;
      }
    }
    await this.repair();
    return result;
  }

  /** One bounded step of the sweep that puts back and removes `_users` entries. */
  private async repair(): Promise<void> {
    const apps = new Set<string>();
    for (let i = 0; i < REPAIR_MAX_BATCHES; i++) {
      const [, examined, ...seen] = (await this.run(scripts.repairSessionsScript, [
        this.repairAt,
        REPAIR_BATCH,
      ])) as [number, number, ...string[]];
      for (const app of seen) if (apps.size < REPAIR_MAX_APPS) apps.add(app);
      this.repairAt += Number(examined);
      if (Number(examined) < REPAIR_BATCH) {
        this.repairAt = 0;
        break;
      }
    }
    for (const app of apps) {
      let at = this.usersAt.get(app) ?? 0;
      for (let i = 0; i < REPAIR_MAX_BATCHES; i++) {
        const [gone, examined] = (await this.runner.run(
          scripts.repairUsersScript,
          [],
          [this.prefix, app, at, REPAIR_BATCH],
        )) as [number, number];
        at += Number(examined) - Number(gone);
        if (Number(examined) < REPAIR_BATCH) {
          at = 0;
          break;
        }
      }
      if (at === 0) this.usersAt.delete(app);
      else if (this.usersAt.size < REPAIR_MAX_APPS) this.usersAt.set(app, at);
    }
  }

  /** Runs a script with the common arguments first: clock, namespace prefix. */
  private run(script: Script, args: readonly ScriptArg[]): Promise<unknown> {
    return this.runner.run(script, [], [this.clock(), this.prefix, ...args]);
  }
}
