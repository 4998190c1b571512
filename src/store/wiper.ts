import { randomBytes } from "node:crypto";
import { debuglog } from "node:util";
import type { SessionEngine, WipedSession } from "../layouts/engine.js";
import type { Seconds } from "../types.js";

const debug = debuglog("express-redis-sessions");

/**
 * Removes expired sessions every `interval` seconds. Across all processes sharing a namespace,
 * one wipes at a time: each run first takes a lease (`SET NX PX`) that lasts most of an interval.
 */
export class Wiper {
  private timer: NodeJS.Timeout | undefined;
  private readonly owner = randomBytes(8).toString("hex");
  private running: Promise<number> | undefined;

  constructor(
    private readonly engine: SessionEngine,
    private readonly interval: Seconds,
    /** Told which sessions each run removed (in batches, as the engine found them). */
    private readonly removed: (sessions: readonly WipedSession[]) => void = () => {},
  ) {}

  /** Starts the timer; it never keeps the process alive. */
  start(): void {
    if (this.interval <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.run().catch((err: Error) => debug("wipe failed: %s", err.message));
    }, this.interval * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One wipe if this process gets the lease (or `force`); resolves to the sessions removed. */
  async run(force = false): Promise<number> {
    // A forced run waits for a timer run in flight (which may have lost the lease) and then wipes.
    if (force && this.running) await this.running.catch(() => 0);
    this.running ??= this.wipe(force).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async wipe(force: boolean): Promise<number> {
    if (!force) {
      const leaseMs = Math.max(1000, Math.floor(this.interval * 900));
      const got = await this.engine.takeLease(this.owner, leaseMs).catch((err: Error) => {
        // Out of memory, Redis refuses the lease (SET) but not the wipe (deletes), which is
        // what frees memory; wiping without the lease is safe, each removal is re-checked.
        if (err.message.startsWith("OOM")) return true;
        throw err;
      });
      if (!got) return 0;
    }
    const { removed, sessions } = await this.engine.wipe();
    if (removed) debug("wiped %d expired sessions", removed);
    this.removed(sessions);
    return removed;
  }
}
