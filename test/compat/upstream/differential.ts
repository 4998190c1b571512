import type { Redis } from "ioredis";
import { expect } from "vitest";
import { RedisSessions } from "../../../src/index.js";
import { uniqueNamespace } from "../../helpers/context.js";
import { copyNamespace, type Snapshot, snapshot, swapToken } from "./snapshot.js";
import { closeV4, openV4, type Reply, type SessionsApi, type V4Sessions } from "./v4.js";

/** Which store acts. */
export type Impl = "v4" | "ours";

/** A fake clock in unix seconds, shared by both stores so that scores and `la` compare exactly. */
export class FakeClock {
  now = Math.floor(Date.now() / 1000);
  advance(seconds: number): void {
    this.now += seconds;
  }
}

/** Options of {@link Differential.step}. */
export interface StepOptions<T> {
  /**
   * Removes a difference we chose to have, after asserting exactly what it is (never silently).
   * It may edit the outcome's replies and snapshots.
   */
  fix?: (o: StepOutcome<T>) => void;
  /** The reply is a soid list, in SMEMBERS order, which DUMP/RESTORE may change: sort it. */
  unordered?: boolean;
}

/** What one step produced, for explicit fix-ups of the differences we chose to have. */
export interface StepOutcome<T> {
  v4: T;
  ours: T;
  /** v4's data after the step (a created token already renamed to ours'). */
  v4Snap: Snapshot;
  oursSnap: Snapshot;
  /** The data both started from. */
  before: Snapshot;
  now: number;
}

const TOKEN = /^[0-9A-Za-z]{64}$/;

/**
 * Runs a scenario against redis-sessions 4.0.0 and our store side by side, one step at a time.
 *
 * The scenario's state lives in the namespace of whichever store acted last (the "actor"). Before
 * each step it is copied byte for byte (DUMP/RESTORE) into the other store's namespace; then v4
 * runs the step on its copy and ours on its own, at the same fake time, and the two replies and
 * the two resulting namespaces must be identical. So every operation is checked against what v4
 * itself does from the very same data, and since actors alternate, that data holds sessions
 * created and last written by either store.
 */
export class Differential {
  readonly clock = new FakeClock();
  readonly ns: Record<Impl, string> = { v4: uniqueNamespace("iv"), ours: uniqueNamespace("io") };
  readonly v4: V4Sessions;
  readonly ours: RedisSessions;
  private chain: Impl = "v4";

  constructor(
    readonly raw: Redis,
    url: string,
  ) {
    const now = () => this.clock.now;
    this.v4 = openV4(url, this.ns.v4, { clock: now });
    this.ours = new RedisSessions({ redis: url, namespace: this.ns.ours, wipe: 0, clock: now });
  }

  store(impl: Impl): SessionsApi {
    return impl === "v4" ? this.v4 : (this.ours as unknown as SessionsApi);
  }

  /** Copies the scenario's current state into both namespaces and returns it. */
  async align(): Promise<Snapshot> {
    const other: Impl = this.chain === "v4" ? "ours" : "v4";
    await copyNamespace(this.raw, this.ns[this.chain], this.ns[other]);
    return snapshot(this.raw, this.ns[this.chain]);
  }

  /** Both namespaces, v4's with `swap` applied (a token of v4's renamed to one of ours). */
  async snapshots(swap?: [string, string]): Promise<{ v4Snap: Snapshot; oursSnap: Snapshot }> {
    let v4Snap = await snapshot(this.raw, this.ns.v4);
    if (swap) v4Snap = swapToken(v4Snap, swap[0], swap[1]);
    return { v4Snap, oursSnap: await snapshot(this.raw, this.ns.ours) };
  }

  /**
   * Runs `op` on both stores from the same data and asserts identical replies and data.
   * Returns the actor's reply; the actor's namespace carries the scenario on.
   */
  async step<T>(
    label: string,
    actor: Impl,
    op: (rs: SessionsApi) => Promise<T>,
    options: StepOptions<T> = {},
  ): Promise<T> {
    const before = await this.align();
    const v4 = await op(this.store("v4"));
    const ours = await op(this.store("ours"));
    // A create makes a random token on each side: name v4's after ours, then demand equality.
    const created = tokenOf(v4) && tokenOf(ours) ? ([tokenOf(v4)!, tokenOf(ours)!] as const) : null;
    const { v4Snap, oursSnap } = await this.snapshots(
      created ? [created[0], created[1]] : undefined,
    );
    const outcome: StepOutcome<T> = { v4, ours, v4Snap, oursSnap, before, now: this.clock.now };
    dropAdditive(outcome);
    options.fix?.(outcome);
    const v4Reply = created ? { token: created[1] } : outcome.v4;
    const sort = options.unordered === true;
    expect(canonical(outcome.ours, before, sort), `${label}: reply`).toBe(
      canonical(v4Reply, before, sort),
    );
    expect(outcome.oursSnap, `${label}: data in Redis`).toEqual(outcome.v4Snap);
    this.chain = actor;
    return actor === "v4" ? outcome.v4 : outcome.ours;
  }

  async close(): Promise<void> {
    await Promise.all([closeV4(this.v4), this.ours.quit()]);
  }
}

/** Hash fields only this package writes (v4 neither writes nor reads them). */
const ADDITIVE_FIELDS = new Set(["ct", "au", "cs", "ua", "ab"]);
/** Reply keys only this package returns. */
const ADDITIVE_KEYS = ["created", "auth", "expires", "ua", "handle"] as const;

/**
 * The additive difference since the account-security work: our create writes `ct` and `au` (now)
 * and `cs` (a CSRF token) after v4's fields, and our replies carry `created`/`auth` (and list
 * entries a `handle`). Asserted, then removed where v4 has none, so every other byte and reply
 * still compares exactly. A field that v4 kept (the data both started from had it) is left.
 */
function dropAdditive(o: StepOutcome<unknown>): void {
  for (const [key, entry] of Object.entries(o.oursSnap)) {
    if (!entry.hash) continue;
    const theirs = new Set((o.v4Snap[key]?.hash ?? []).map(([f]) => f));
    entry.hash = entry.hash.filter(([field, value]) => {
      if (!ADDITIVE_FIELDS.has(field) || theirs.has(field)) return true;
      if (field === "ct" || field === "au") expect(value, `${key} ${field}`).toBe(String(o.now));
      if (field === "cs") expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      return false;
    });
  }
  const strip = (reply: unknown) => {
    if (!reply || typeof reply !== "object") return;
    const r = reply as Record<string, unknown>;
    for (const k of ADDITIVE_KEYS) {
      if (!(k in r)) continue;
      if (k === "created" || k === "auth") expect(typeof r[k]).toBe("number");
      delete r[k];
    }
  };
  strip(o.ours);
  const sessions = (o.ours as { sessions?: unknown[] } | null)?.sessions;
  if (Array.isArray(sessions)) for (const s of sessions) strip(s);
}

function tokenOf(reply: unknown): string | undefined {
  const token = (reply as { token?: unknown } | null)?.token;
  return typeof token === "string" && TOKEN.test(token) ? token : undefined;
}

/**
 * A reply as JSON, key order included. Our soid/soapp entries also carry their `token` (v4's
 * don't): each must name a session of that id in the data the step started from, then it is
 * dropped. With `sort`, the list is sorted.
 */
function canonical(reply: unknown, before: Snapshot, sort: boolean): string {
  const sessions = (reply as { sessions?: Reply[] } | null)?.sessions;
  if (!Array.isArray(sessions)) return JSON.stringify(reply);
  const list = sessions.map((s) => {
    if (!("token" in s)) return JSON.stringify(s);
    const { token, ...rest } = s;
    const hash = Object.keys(before).find((k) => k.endsWith(`:${String(token)}`));
    expect(hash && before[hash]?.hash?.find(([f]) => f === "id")?.[1]).toBe(rest.id);
    return JSON.stringify(rest);
  });
  if (sort) list.sort();
  return JSON.stringify({ ...(reply as Reply), sessions: list });
}
