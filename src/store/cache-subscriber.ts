import { debuglog } from "node:util";
import type { Redis } from "ioredis";
import { withDeadline } from "../redis-client.js";
import type { Milliseconds } from "../types.js";

const debug = debuglog("express-redis-sessions");

/** How often the subscriber's connection is checked with a PING. */
export const HEARTBEAT_MS = 1000;

/**
 * The cache's subscriber, as `cacheStats().subscriber` reports it: `"subscribed"` (the cache is
 * used), `"connecting"` (connected or connecting, not yet subscribed) or `"down"` (waiting to
 * reconnect); `"off"` when the store has no cache.
 */
export type SubscriberState = "subscribed" | "connecting" | "down" | "off";

/** What the subscriber tells its cache. */
export interface SubscriberEvents {
  /** An invalidation for `token` arrived. */
  message(token: string): void;
  /** The subscription ended (or may have silently): the cache must flush and be bypassed. */
  lost(): void;
}

/**
 * The connection subscribed to the `{ns}:cache` channel. The cache is usable only while it is
 * subscribed, since messages published meanwhile are lost. Besides the connection's own events,
 * a connection whose packets silently vanish (a black hole, a dropped NAT entry) is noticed by a
 * PING every {@link HEARTBEAT_MS} that must answer within the store's timeout, or when the store
 * finds its own connection black-holed ({@link reconnect}); either drops it and reconnects.
 */
export class CacheSubscriber {
  private subscribed = false;
  private pinging = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly sub: Redis,
    channel: string,
    private readonly timeout: Milliseconds,
    private readonly events: SubscriberEvents,
  ) {
    const resubscribe = () => {
      sub.subscribe(channel).then(
        () => {
          // A reply that lost the race with a disconnect does not count.
          if (sub.status !== "ready") return;
          this.subscribed = true;
          debug("cache subscribed to %s", channel);
        },
        (err: Error) => debug("cache subscribe failed: %s", err.message),
      );
    };
    const lost = () => this.lost();
    sub.on("message", (ch: string, message: string) => {
      // "{app}:{token}": an app has no colon, so the token is all after the first one.
      if (ch === channel) events.message(message.slice(message.indexOf(":") + 1));
    });
    sub.on("close", lost);
    sub.on("end", lost);
    sub.on("reconnecting", lost);
    // ioredis re-subscribes by itself after a reconnect, but only tells us through "ready".
    sub.on("ready", resubscribe);
    if (sub.status === "ready") resubscribe();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** True while subscribed: only then may the cache serve from memory. */
  get active(): boolean {
    return this.subscribed;
  }

  get state(): SubscriberState {
    if (this.subscribed) return "subscribed";
    const status = this.sub.status;
    return status === "reconnecting" || status === "close" || status === "end"
      ? "down"
      : "connecting";
  }

  /** Drops the connection and opens it again; the cache is flushed and bypassed meanwhile. */
  reconnect(): void {
    if (this.sub.status === "end") return;
    this.lost();
    this.sub.disconnect(true);
  }

  /** Stops the heartbeat and closes the connection. */
  async close(closeSub: (sub: Redis) => Promise<void>): Promise<void> {
    clearInterval(this.heartbeat);
    this.subscribed = false;
    await closeSub(this.sub);
  }

  private lost(): void {
    if (!this.subscribed) return;
    debug("cache subscriber lost; cache flushed and bypassed");
    this.subscribed = false;
    this.events.lost();
  }

  private beat(): void {
    if (!this.subscribed || this.pinging) return;
    this.pinging = true;
    withDeadline(this.sub.ping(), this.timeout)
      .catch((err: Error) => {
        if (!this.subscribed) return;
        debug("cache subscriber did not answer PING (%s): reconnecting", err.message);
        this.reconnect();
      })
      .finally(() => {
        this.pinging = false;
      });
  }
}
