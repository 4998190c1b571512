import { errorOf } from "../../errors.js";
import type { Runner } from "../script.js";
import type { ClusterLayout } from "./keys.js";

/**
 * The apps this process has used, each with its one-time check that Redis holds the same bucket
 * count as this store: with another count, users would map to other buckets and killsoid would
 * miss their sessions. Only a mismatch fails the operation: when the registry's node cannot
 * answer, the operation goes on (it needs only its own bucket's node) and the check is made again
 * next time.
 */
export class BucketRegistry {
  private readonly checks = new Map<string, Promise<void>>();
  private readonly used = new Set<string>();

  constructor(
    private readonly runner: Runner,
    private readonly layout: ClusterLayout,
  ) {}

  /** Resolves once the app's bucket count is known to match (or could not be checked). */
  ready(app: string): Promise<void> {
    let check = this.checks.get(app);
    if (!check) {
      this.used.add(app);
      const n = String(this.layout.buckets);
      const key = this.layout.registry(app);
      const attempt: Promise<void> = this.runner
        .command((c) => c.set(key, n, "NX", "GET"))
        .then(
          (stored) => {
            if (stored !== null && stored !== n) {
              this.checks.delete(app);
              throw errorOf(
                "ERS_BUCKETS_MISMATCH",
                `app "${app}" has ${stored} buckets in Redis but this store is configured with ${n}`,
              );
            }
          },
          () => {
            if (this.checks.get(app) === attempt) this.checks.delete(app);
          },
        );
      check = attempt;
      this.checks.set(app, check);
    }
    return check;
  }

  /** Every app this process has used (what the wipe cleans). */
  apps(): string[] {
    return [...this.used];
  }
}
