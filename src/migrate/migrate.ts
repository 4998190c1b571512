import type { RedisClient } from "../redis-client.js";
import type { Side, StoredSession } from "./side.js";

/** Where {@link migrate} is, for a progress display. */
export interface MigrationProgress {
  app: string;
  /** 1-based position of `app` among the apps migrated. */
  appIndex: number;
  apps: number;
  /** Sessions of this app read so far, and about how many there are. */
  done: number;
  total: number;
  /** What the run is doing now. */
  phase: "copy" | "prune";
}

/** What happened to one app. */
export interface AppReport {
  app: string;
  /** Live sessions written (or, in a dry run, that would be). */
  copied: number;
  /** Live sessions the target already held as new: nothing written. */
  unchanged: number;
  /** Sessions found expired in the source: not copied. */
  expired: number;
  /** Copied sessions ended in the target because they no longer live in the source. */
  pruned: number;
  /** The saved cursor this run resumed from, if any. */
  resumedFrom?: string;
}

export interface MigrationOptions {
  source: Side;
  target: Side;
  /** Apps to migrate; all apps of the source when absent. */
  apps?: readonly string[];
  /** Read and count only; write nothing (not even progress). */
  dryRun?: boolean;
  /** Sessions per read. @default 500 */
  batch?: number;
  /** Ignore progress saved by an interrupted run. */
  restart?: boolean;
  /**
   * After copying, end each copied session of the target that no longer lives in the source
   * (logged out during the cut-over window). Run it once the old app has stopped.
   */
  prune?: boolean;
  /** The target's client and namespace, where progress is saved so that a rerun resumes. */
  state: { client: RedisClient; namespace: string };
  onProgress?: (progress: MigrationProgress) => void;
}

/** Progress is kept a day: long enough to resume, short enough not to linger. */
const STATE_TTL = 86_400;

function liveFor(fields: Record<string, string>, now: number): number | undefined {
  if (fields.id === undefined) return undefined;
  const la = Number(fields.la) || 0;
  const ttl = Number(fields.ttl) || 0;
  // redis-sessions' rule: alive while ttl >= now - la; what is left is la + ttl - now. An
  // absolute end (ab) ends it sooner: the copy must not outlive it.
  const ab = fields.ab === undefined ? Number.POSITIVE_INFINITY : Number(fields.ab) || 0;
  if (ttl < now - la || now >= ab) return undefined;
  return Math.min(la + ttl, ab) - now;
}

/**
 * Copies the live sessions of each app from one key layout to the other, keeping tokens, ids,
 * counters, data and the remaining lifetime, so that users stay logged in across the switch.
 * Copies are idempotent (a newer copy is never overwritten by an older one), and the read
 * position is saved in the target after each batch: running it again resumes, then catches up
 * with sessions created or changed meanwhile.
 */
export async function migrate(options: MigrationOptions): Promise<AppReport[]> {
  const { source, target, dryRun = false, batch = 500 } = options;
  const apps = options.apps ? [...options.apps] : await source.apps();
  const reports: AppReport[] = [];
  for (const [i, app] of apps.entries()) {
    const report: AppReport = { app, copied: 0, unchanged: 0, expired: 0, pruned: 0 };
    const stateKey = `${options.state.namespace}:_migrate:${source.layout}-${target.layout}:${app}`;
    const state = options.state.client;
    const saved = dryRun || options.restart ? null : await state.get(stateKey);
    if (saved) report.resumedFrom = saved;
    let cursor = saved ?? "0";
    const total = await source.count(app);
    let done = 0;
    const progress = (phase: MigrationProgress["phase"]) =>
      options.onProgress?.({ app, appIndex: i + 1, apps: apps.length, done, total, phase });
    progress("copy");
    do {
      const now = await source.now();
      const read = await source.read(app, cursor, batch);
      await Promise.all(read.sessions.map((s) => copyOne(s, now)));
      done += read.sessions.length;
      cursor = read.cursor;
      if (!dryRun) {
        if (cursor === "0") await state.del(stateKey);
        else await state.set(stateKey, cursor, "EX", STATE_TTL);
      }
      progress("copy");
    } while (cursor !== "0");
    if (options.prune && !dryRun) {
      progress("prune");
      const now = await source.now();
      for await (const token of target.copied(app)) {
        if (await source.isLive(app, token, now)) continue;
        await target.kill(app, token);
        report.pruned++;
      }
    }
    reports.push(report);

    async function copyOne(s: StoredSession, now: number): Promise<void> {
      const remaining = liveFor(s.fields, now);
      if (remaining === undefined) {
        report.expired++;
        return;
      }
      if (dryRun) {
        report.copied++;
        return;
      }
      if (await target.write(app, s, remaining)) report.copied++;
      else report.unchanged++;
    }
  }
  return reports;
}
