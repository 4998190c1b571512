import { errorOf } from "../../errors.js";
import { masters, type RedisClient } from "../../redis-client.js";
import { isAppName } from "../../validate.js";
import type { Runner } from "../script.js";
import type { ClusterLayout } from "./keys.js";

/** Apps whose bucket count this process has confirmed (more are checked again, one GET each). */
const CONFIRMED_MAX = 10_000;
/** Keys asked for per SCAN call, and SCAN calls per node and wipe run. */
const SCAN_COUNT = 1000;
const SCANS_PER_RUN = 1000;

/**
 * Each app's bucket count in Redis (`{ns}:{app}:_buckets`), checked against this store's: with
 * another count, users would map to other buckets and killsoid would miss their sessions.
 *
 * Only a create writes the key (SET NX). Every other operation only reads it, and only until this
 * process has seen it match: a request that names an app nobody created (a random app from a
 * request path, say) writes nothing and leaves nothing in this process' memory. A mismatch fails
 * the operation; when the registry's node cannot answer, the operation goes on (it needs only its
 * own bucket's node) and the check is made again next time.
 */
export class BucketRegistry {
  private readonly confirmed = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly runner: Runner,
    private readonly layout: ClusterLayout,
  ) {}

  /** Before a create: records the app's bucket count, or fails if Redis holds another. */
  ready(app: string): Promise<void> {
    return this.confirm(app, true, (c, key, n) => c.set(key, n, "NX", "GET"));
  }

  /** Before any other operation: fails if Redis holds another bucket count; writes nothing. */
  check(app: string): Promise<void> {
    return this.confirm(app, false, (c, key) => c.get(key));
  }

  /** How many apps this process remembers as confirmed (bounded). */
  get size(): number {
    return this.confirmed.size;
  }

  private confirm(
    app: string,
    writes: boolean,
    ask: (c: RedisClient, key: string, n: string) => Promise<string | null>,
  ): Promise<void> {
    if (this.confirmed.has(app)) return Promise.resolve();
    // A create never shares a read's check: it must write the key itself.
    const slot = `${writes ? "w" : "r"}${app}`;
    const inFlight = this.pending.get(slot);
    if (inFlight) return inFlight;
    const n = String(this.layout.buckets);
    const key = this.layout.registry(app);
    const attempt = this.runner
      .command((c) => ask(c, key, n))
      .then(
        (stored) => {
          if (stored !== null && stored !== n) {
            throw errorOf(
              "ERS_BUCKETS_MISMATCH",
              `app "${app}" has ${stored} buckets in Redis but this store is configured with ${n}`,
            );
          }
          // Remembered only once the key exists (after SET NX it does), so unknown apps cost
          // no memory here.
          if (stored === n || writes) this.remember(app);
        },
        () => {},
      )
      .finally(() => this.pending.delete(slot));
    this.pending.set(slot, attempt);
    return attempt;
  }

  private remember(app: string): void {
    if (this.confirmed.size >= CONFIRMED_MAX) {
      const oldest = this.confirmed.values().next().value;
      if (oldest !== undefined) this.confirmed.delete(oldest);
    }
    this.confirmed.add(app);
    this.layout.keepTags(app);
  }
}

/**
 * The apps that have a registry key (those that ever had a session), found with SCAN on every
 * master, never KEYS. Each run goes on where the last one stopped, for at most
 * {@link SCANS_PER_RUN} calls per node, so one wipe run is bounded however many keys there are.
 * Apps once found are kept: with millions of keys a full scan spans several runs, and an app
 * must not wait for the scan to come round again to be wiped.
 */
export class AppScan {
  private readonly cursors = new Map<string, string>();
  private readonly known = new Set<string>();

  constructor(
    private readonly client: RedisClient,
    private readonly layout: ClusterLayout,
  ) {}

  /**
   * Every app found so far, with this run's share of the scan; `complete` scans on until every
   * node's scan has come round (each SCAN call still bounded), for an explicit `wipe()`.
   */
  async next(complete = false): Promise<string[]> {
    const marker = "\u0000";
    const [head = "", tail = ""] = this.layout.registry(marker).split(marker);
    const pattern = `${head.replace(/[*?[\]\\]/g, "\\$&")}*${tail.replace(/[*?[\]\\]/g, "\\$&")}`;
    for (const node of masters(this.client)) {
      const id = `${node.options.host}:${node.options.port}`;
      let cursor = this.cursors.get(id) ?? "0";
      for (let scans = 0; complete || scans < SCANS_PER_RUN; scans++) {
        const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
        cursor = next;
        for (const key of batch) {
          const app = key.slice(head.length, key.length - tail.length);
          if (isAppName(app)) this.known.add(app);
        }
        if (cursor === "0") break;
      }
      if (cursor === "0") this.cursors.delete(id);
      else this.cursors.set(id, cursor);
    }
    return [...this.known].sort();
  }
}
