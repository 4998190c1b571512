import { createToken } from "../../token.js";
import type { Milliseconds } from "../../types.js";
import type { DataEntry, DataLimits } from "../../validate.js";
import { type NewSession, type SessionEngine, setArguments } from "../engine.js";
import type { SessionReply } from "../reply.js";
import type { Runner, Script, ScriptArg } from "../script.js";
import { compatLayout, type KeyLayout } from "./keys.js";
import * as scripts from "./scripts.js";

/** Sessions per killall script call: bounded so that a huge app never blocks Redis for long. */
const KILLALL_BATCH = 1000;
/** Sessions examined per wipe script call, and calls per wipe run. */
export const WIPE_BATCH = 500;
const WIPE_MAX_BATCHES = 200;

/** The redis-sessions layout (keys.ts), driven by the scripts in scripts.ts. */
export class CompatEngine implements SessionEngine {
  readonly keys: KeyLayout;
  readonly channel: string;
  private readonly prefix: string;

  constructor(
    private readonly runner: Runner,
    namespace: string,
    private readonly clock: () => string,
  ) {
    this.keys = compatLayout(namespace);
    this.prefix = this.keys.prefix;
    this.channel = this.keys.cacheChannel();
  }

  token(): string {
    return createToken();
  }

  successor(): string {
    return createToken();
  }

  async create(app: string, token: string, s: NewSession): Promise<void> {
    const noResave = s.noResave ? "1" : "";
    await this.run(scripts.createScript, [app, token, s.id, s.ip, s.ttl, s.d, noResave]);
  }

  async get(app: string, token: string): Promise<SessionReply | null> {
    return ((await this.run(scripts.getScript, [app, token, 1])) as SessionReply | null) ?? null;
  }

  async touch(app: string, tokens: readonly string[]): Promise<string[]> {
    const reply = await this.run(scripts.touchScript, [app, ...tokens]);
    // {touched, missing token...}, or (older scripts) the count alone: when it falls short, any
    // of the tokens may be the missing one.
    if (Array.isArray(reply)) return reply.slice(1).map(String);
    return Number(reply) < tokens.length ? [...tokens] : [];
  }

  async set(
    app: string,
    token: string,
    entries: readonly DataEntry[],
    limits: DataLimits,
  ): Promise<SessionReply | null> {
    const args = setArguments(this.clock(), this.prefix, app, token, entries, limits);
    const reply = await this.runner.run(scripts.setScript, [], args);
    return (reply as SessionReply | null) ?? null;
  }

  async kill(app: string, token: string): Promise<number> {
    return Number(await this.run(scripts.killScript, [app, token]));
  }

  async rotate(app: string, token: string, next: string): Promise<boolean> {
    return Boolean(await this.run(scripts.rotateScript, [app, token, next]));
  }

  async activity(app: string, deltaTime: number): Promise<number> {
    return Number(await this.run(scripts.activityScript, [app, deltaTime]));
  }

  async soapp(app: string, deltaTime: number): Promise<unknown[]> {
    return (await this.run(scripts.soappScript, [app, deltaTime])) as unknown[];
  }

  async soid(app: string, id: string): Promise<unknown[]> {
    return (await this.run(scripts.soidScript, [app, id])) as unknown[];
  }

  async killsoid(app: string, id: string): Promise<{ kill: number; tokens: string[] }> {
    const [kill, ...tokens] = (await this.run(scripts.killsoidScript, [app, id])) as [
      number,
      ...string[],
    ];
    return { kill: Number(kill), tokens };
  }

  async killall(app: string): Promise<number> {
    let kill = 0;
    let previous = Number.POSITIVE_INFINITY;
    for (;;) {
      const [n, remaining] = (await this.run(scripts.killallScript, [app, KILLALL_BATCH])) as [
        number,
        number,
      ];
      kill += n;
      // n counts live sessions only, so a batch of expired ones (n = 0) must not end the loop.
      // Each batch removes what it examined; stop when nothing is left or when sessions are
      // created faster than they are killed (then the index does not shrink).
      if (remaining === 0 || remaining >= previous) break;
      previous = remaining;
    }
    return kill;
  }

  async wipe(): Promise<number> {
    let removed = 0;
    for (let i = 0; i < WIPE_MAX_BATCHES; i++) {
      const [n, examined] = (await this.run(scripts.wipeScript, [WIPE_BATCH])) as [number, number];
      removed += n;
      if (examined < WIPE_BATCH) break;
    }
    return removed;
  }

  async takeLease(owner: string, ms: Milliseconds): Promise<boolean> {
    const lease = this.keys.wipeLease();
    return (await this.runner.command((c) => c.set(lease, owner, "PX", ms, "NX"))) === "OK";
  }

  writtenKeys(): string[] {
    return [];
  }

  ping(): Promise<string> {
    return this.runner.command((c) => c.ping());
  }

  /** Runs a script with the common arguments first: clock, namespace prefix. */
  private run(script: Script, args: readonly ScriptArg[]): Promise<unknown> {
    return this.runner.run(script, [], [this.clock(), this.prefix, ...args]);
  }
}
