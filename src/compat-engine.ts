import { type SessionEngine, setArguments } from "./engine.js";
import { compatLayout, type KeyLayout } from "./keys.js";
import type { RedisClient, Script } from "./script.js";
import * as scripts from "./scripts.js";
import type { SessionReply } from "./session.js";
import { createToken } from "./token.js";
import type { DataEntry, DataLimits } from "./validate.js";

/** Sessions per killall script call: bounded so that a huge app never blocks Redis for long. */
const KILLALL_BATCH = 1000;
/** Sessions examined per wipe script call, and calls per wipe run. */
export const WIPE_BATCH = 500;
const WIPE_MAX_BATCHES = 200;

/** The redis-sessions layout (src/keys.ts), driven by the scripts in src/scripts.ts. */
export class CompatEngine implements SessionEngine {
  readonly keys: KeyLayout;
  readonly channel: string;
  readonly lease: string;
  private readonly prefix: string;

  /** `timeout`: the budget of one call, EVALSHA and a NOSCRIPT fallback together. */
  constructor(
    private readonly client: RedisClient,
    namespace: string,
    private readonly timeout?: number,
  ) {
    this.keys = compatLayout(namespace);
    this.prefix = this.keys.prefix;
    this.channel = this.keys.cacheChannel();
    this.lease = this.keys.wipeLease();
  }

  token(): string {
    return createToken();
  }

  successor(): string {
    return createToken();
  }

  async create(
    now: string,
    app: string,
    token: string,
    s: { id: string; ip: string; ttl: number; d: string; noResave: boolean },
  ): Promise<void> {
    await this.run(scripts.createScript, [
      now,
      this.prefix,
      app,
      token,
      s.id,
      s.ip,
      s.ttl,
      s.d,
      s.noResave ? "1" : "",
    ]);
  }

  async get(now: string, app: string, token: string, count: boolean): Promise<SessionReply | null> {
    const args = [now, this.prefix, app, token, count ? 1 : 0];
    return ((await this.run(scripts.getScript, args)) as SessionReply | null) ?? null;
  }

  async touch(now: string, app: string, tokens: readonly string[]): Promise<number> {
    return Number(await this.run(scripts.touchScript, [now, this.prefix, app, ...tokens]));
  }

  async set(
    now: string,
    app: string,
    token: string,
    entries: readonly DataEntry[],
    limits: DataLimits,
  ): Promise<SessionReply | null> {
    const args = setArguments(now, this.prefix, app, token, entries, limits);
    return ((await this.run(scripts.setScript, args)) as SessionReply | null) ?? null;
  }

  async kill(now: string, app: string, token: string): Promise<number> {
    return Number(await this.run(scripts.killScript, [now, this.prefix, app, token]));
  }

  async rotate(now: string, app: string, token: string, next: string): Promise<boolean> {
    return Boolean(await this.run(scripts.rotateScript, [now, this.prefix, app, token, next]));
  }

  async activity(now: string, app: string, deltaTime: number): Promise<number> {
    return Number(await this.run(scripts.activityScript, [now, this.prefix, app, deltaTime]));
  }

  async soapp(now: string, app: string, deltaTime: number): Promise<unknown[]> {
    return (await this.run(scripts.soappScript, [now, this.prefix, app, deltaTime])) as unknown[];
  }

  async soid(now: string, app: string, id: string): Promise<unknown[]> {
    return (await this.run(scripts.soidScript, [now, this.prefix, app, id])) as unknown[];
  }

  async killsoid(
    now: string,
    app: string,
    id: string,
  ): Promise<{ kill: number; tokens: string[] }> {
    const [kill, ...tokens] = (await this.run(scripts.killsoidScript, [
      now,
      this.prefix,
      app,
      id,
    ])) as [number, ...string[]];
    return { kill: Number(kill), tokens };
  }

  async killall(now: string, app: string): Promise<number> {
    let kill = 0;
    let previous = Number.POSITIVE_INFINITY;
    for (;;) {
      const [n, remaining] = (await this.run(scripts.killallScript, [
        now,
        this.prefix,
        app,
        KILLALL_BATCH,
      ])) as [number, number];
      kill += n;
      // n counts live sessions only, so a batch of expired ones (n = 0) must not end the loop.
      // Each batch removes what it examined; stop when nothing is left or when sessions are
      // created faster than they are killed (then the index does not shrink).
      if (remaining === 0 || remaining >= previous) break;
      previous = remaining;
    }
    return kill;
  }

  async wipe(now: string): Promise<number> {
    let removed = 0;
    for (let i = 0; i < WIPE_MAX_BATCHES; i++) {
      const [n, examined] = (await this.run(scripts.wipeScript, [
        now,
        this.prefix,
        WIPE_BATCH,
      ])) as [number, number];
      removed += n;
      if (examined < WIPE_BATCH) break;
    }
    return removed;
  }

  private run(script: Script, args: readonly (string | number)[]): Promise<unknown> {
    return script.run(this.client, [], args, this.timeout);
  }
}
