import { createToken } from "../../token.js";
import type { Milliseconds } from "../../types.js";
import type { DataEntry, DataLimits } from "../../validate.js";
import { type NewSession, type SessionEngine, setArguments } from "../engine.js";
import { accountArguments, type WipeResult } from "../engine-types.js";
import type { ListPage } from "../listing.js";
import type { SessionReply } from "../reply.js";
import type { Runner, Script, ScriptArg } from "../script.js";
import * as account from "./account-scripts.js";
import { CompatAppWide, PAGE_BATCH } from "./app-wide.js";
import { compatLayout, type KeyLayout } from "./keys.js";
import * as scripts from "./scripts.js";

/**
 * The redis-sessions layout (keys.ts), driven by the scripts in scripts.ts. Per-session
 * operations are one script each; app-wide and per-user ones are in app-wide.ts.
 */
export class CompatEngine implements SessionEngine {
  readonly keys: KeyLayout;
  readonly channel: string;
  private readonly prefix: string;
  private readonly appWide: CompatAppWide;

  constructor(
    private readonly runner: Runner,
    namespace: string,
    private readonly clock: () => string,
    /** Seconds of idleness before a read refreshes activity (0: every read). */
    private readonly touchAfter = 0,
  ) {
    this.keys = compatLayout(namespace);
    this.prefix = this.keys.prefix;
    this.channel = this.keys.cacheChannel();
    this.appWide = new CompatAppWide(runner, this.prefix, clock);
  }

  token(): string {
    return createToken();
  }

  successor(): string {
    return createToken();
  }

  async create(app: string, token: string, s: NewSession): Promise<string[]> {
    const noResave = s.noResave ? "1" : "";
    const args = [app, token, s.id, s.ip, s.ttl, s.d, noResave, ...accountArguments(s)];
    const [, ...evicted] = (await this.run(scripts.createScript, args)) as [number, ...string[]];
    return evicted.map(String);
  }

  async get(app: string, token: string, ip = ""): Promise<SessionReply | null> {
    const reply = await this.run(scripts.getScript, [app, token, this.touchAfter, ip]);
    return (reply as SessionReply | null) ?? null;
  }

  /**
   * Refreshes activity in calls of at most {@link PAGE_BATCH} tokens, however many the cache has
   * queued; resolves to the tokens that have no live session (so that a cache drops them).
   */
  async touch(app: string, tokens: readonly string[]): Promise<string[]> {
    const missing: string[] = [];
    for (let i = 0; i < tokens.length; i += PAGE_BATCH) {
      const chunk = tokens.slice(i, i + PAGE_BATCH);
      const reply = await this.run(scripts.touchScript, [app, this.touchAfter, ...chunk]);
      // {touched, missing token...}
      for (const token of (reply as unknown[]).slice(1)) missing.push(String(token));
    }
    return missing;
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

  async kill(app: string, token: string, id = ""): Promise<number> {
    return Number(await this.run(scripts.killScript, [app, token, id]));
  }

  async rotate(app: string, token: string, next: string, grace: number) {
    const reply = await this.run(scripts.rotateScript, [app, token, next, grace]);
    if (!Array.isArray(reply)) return null;
    return { id: String(reply[0]), from: String(reply[1]) };
  }

  async reauthenticated(app: string, token: string): Promise<SessionReply | null> {
    const reply = await this.run(account.reauthenticatedScript, [app, token]);
    return (reply as SessionReply | null) ?? null;
  }

  async csrfToken(app: string, token: string, candidate: string): Promise<string | null> {
    const reply = await this.run(account.csrfTokenScript, [app, token, candidate]);
    return typeof reply === "string" ? reply : null;
  }

  activity(app: string, deltaTime: number): Promise<number> {
    return this.appWide.activity(app, deltaTime);
  }

  countSessions(app: string, deltaTime: number): Promise<number> {
    return this.appWide.activity(app, deltaTime, "_sessions");
  }

  soapp(app: string, deltaTime: number): Promise<unknown[]> {
    return this.appWide.soapp(app, deltaTime);
  }

  soappPage(
    app: string,
    deltaTime: number,
    limit: number,
    cursor: string | null,
  ): Promise<ListPage> {
    return this.appWide.soappPage(app, deltaTime, limit, cursor);
  }

  soid(app: string, id: string): Promise<unknown[]> {
    return this.appWide.soid(app, id);
  }

  soidPage(app: string, id: string, limit: number, cursor: string | null): Promise<ListPage> {
    return this.appWide.soidPage(app, id, limit, cursor);
  }

  killsoid(app: string, id: string): Promise<{ kill: number; tokens: string[] }> {
    return this.appWide.killsoid(app, id);
  }

  killall(app: string): Promise<number> {
    return this.appWide.killall(app);
  }

  wipe(): Promise<WipeResult> {
    return this.appWide.wipe();
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
