import { debuglog } from "node:util";

const debug = debuglog("express-redis-sessions");

/** Touches are collected this long and then sent as one script call per app. */
const BATCH_MS = 200;

/**
 * Refreshes the activity of some tokens of an app; resolves to those that may have no session
 * any more (see `SessionEngine.touch`).
 */
export type Touch = (app: string, tokens: string[]) => Promise<readonly string[]>;

/**
 * Batched activity refreshes for sessions served from the cache, so that users served from
 * memory do not expire in Redis: tokens collected for {@link BATCH_MS}, then one call per app.
 * What a refresh finds gone (a FLUSHDB, a foreign DEL, an eviction: nothing was published) is
 * reported to `gone`, so that the cache stops serving it.
 */
export class ActivityRefresh {
  private readonly pending = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly touch: Touch,
    private readonly gone: (tokens: readonly string[]) => void,
  ) {}

  /** Queues a refresh of `token`. */
  add(app: string, token: string): void {
    let tokens = this.pending.get(app);
    if (!tokens) {
      tokens = new Set();
      this.pending.set(app, tokens);
    }
    tokens.add(token);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.send().catch(() => {});
      }, BATCH_MS);
      this.timer.unref();
    }
  }

  /** Forgets what is queued (after a flush of the cache). */
  clear(): void {
    this.pending.clear();
  }

  /** Forgets a queued token (its entry was dropped): it would only be reported gone. */
  forget(token: string): void {
    for (const tokens of this.pending.values()) tokens.delete(token);
  }

  /** Sends what is queued now and stops the timer. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.send();
  }

  private async send(): Promise<void> {
    const batches = [...this.pending];
    this.pending.clear();
    await Promise.all(
      batches.map(([app, tokens]) =>
        this.touch(app, [...tokens]).then(
          (gone) => {
            if (gone.length > 0) this.gone(gone);
          },
          (err: Error) => debug("touch failed: %s", err.message),
        ),
      ),
    );
  }
}
