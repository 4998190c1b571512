import { sessionHandle } from "../../../src/index.js";
import type { RawState } from "./invariants.js";

/*
 * An in-memory model of the store, written from redis-sessions' documented behaviour (see
 * /work/shared/reference/redis-sessions-v4.md) rather than from src/, for the model-based test:
 * same clock, same results, same stored fields. Time is the store's `clock`, in unix seconds.
 */

/** One `d` entry as stored: key, key as JSON, value as JSON. */
export type Entry = [key: string, keyJson: string, valueJson: string];

export interface ModelSession {
  app: string;
  token: string;
  id: string;
  ip: string;
  r: number;
  w: number;
  la: number;
  /** Last activity: the `_sessions` score. `la` follows it only when a second or more passed. */
  seen: number;
  ttl: number;
  noResave: boolean;
  d: Entry[];
  /** Created (`ct`), also the last authentication (`au`): nothing here reauthenticates. */
  created: number;
}

/** A patch as the store takes it: `null` deletes a key. */
export type Patch = Record<string, string | number | boolean | null>;

/** The outcome of one operation: a value or an error code. */
export type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

/**
 * A touch rewrites `la` (and a no_resave `ttl`) once idle exceeds this many seconds. The store
 * uses 0; redis-sessions 4 used 1 (so its `la` could lag activity by a second).
 */
export const LA_REWRITE_AFTER = 0;

function serialize(d: readonly Entry[]): string | undefined {
  return d.length ? `{${d.map(([, k, v]) => `${k}:${v}`).join(",")}}` : undefined;
}

/** The store's session model. `clone()` it to try alternative orders of concurrent operations. */
export class SessionModel {
  now: number;
  readonly sessions = new Map<string, ModelSession>();
  /** `{app}\n{id}` → last activity (the `_users` score) while the id has a session. */
  readonly users = new Map<string, number>();
  /** Every token ever issued, with its app: commands pick targets from here (dead ones too). */
  readonly known: { app: string; token: string }[] = [];

  /**
   * @param touchAfter the store's `touchAfter`: a get refreshes activity only once the session
   *   has been idle that many seconds (it is still counted); a set always refreshes.
   */
  constructor(
    now: number,
    private readonly maxKeys: number,
    private readonly touchAfter = 0,
  ) {
    this.now = now;
  }

  clone(): SessionModel {
    const m = new SessionModel(this.now, this.maxKeys, this.touchAfter);
    for (const [k, s] of this.sessions) m.sessions.set(k, { ...s, d: s.d.map((e) => [...e]) });
    for (const [k, v] of this.users) m.users.set(k, v);
    m.known.push(...this.known);
    return m;
  }

  private key(app: string, token: string): string {
    return `${app}\n${token}`;
  }

  private alive(s: ModelSession): boolean {
    return s.ttl >= this.now - s.la;
  }

  private live(app: string, token: string): ModelSession | undefined {
    const s = this.sessions.get(this.key(app, token));
    return s && this.alive(s) ? s : undefined;
  }

  /** The session as the store returns it (key order included), before any touch. */
  view(s: ModelSession, withToken = false): Record<string, unknown> {
    const idle = this.now - s.la;
    const out: Record<string, unknown> = {
      id: s.id,
      r: s.r,
      w: s.w,
      ttl: s.noResave ? s.ttl - idle : s.ttl,
      idle,
      ip: s.ip,
    };
    if (s.noResave) out.no_resave = true;
    const d = serialize(s.d);
    if (d) out.d = JSON.parse(d);
    // The additive account fields follow v4's, then a listing's token and handle.
    out.created = s.created;
    out.auth = s.created;
    if (withToken) {
      out.token = s.token;
      out.handle = sessionHandle(s.token);
    }
    return out;
  }

  private touch(s: ModelSession): void {
    const idle = this.now - s.la;
    if (idle > LA_REWRITE_AFTER) {
      if (s.noResave) s.ttl -= idle;
      s.la = this.now;
    }
    s.seen = this.now;
    this.users.set(`${s.app}\n${s.id}`, this.now);
  }

  private remove(s: ModelSession): void {
    this.sessions.delete(this.key(s.app, s.token));
    const left = [...this.sessions.values()].some((o) => o.app === s.app && o.id === s.id);
    if (!left) this.users.delete(`${s.app}\n${s.id}`);
  }

  create(
    app: string,
    token: string,
    p: { id: string; ip: string; ttl: number; d?: Patch; noResave: boolean },
  ): Outcome {
    const d: Entry[] = [];
    for (const [k, v] of Object.entries(p.d ?? {})) {
      if (v !== null) d.push([k, JSON.stringify(k), JSON.stringify(v)]);
    }
    const s: ModelSession = {
      app,
      token,
      id: p.id,
      ip: p.ip,
      r: 1,
      w: 1,
      la: this.now,
      seen: this.now,
      ttl: p.ttl,
      noResave: p.noResave,
      d,
      created: this.now,
    };
    this.sessions.set(this.key(app, token), s);
    this.users.set(`${app}\n${p.id}`, this.now);
    this.known.push({ app, token });
    return { ok: true, value: { token } };
  }

  get(app: string, token: string): Outcome {
    const s = this.live(app, token);
    if (!s) return { ok: true, value: null };
    const value = this.view(s);
    if (this.now - s.la >= this.touchAfter) this.touch(s);
    s.r++;
    return { ok: true, value };
  }

  set(app: string, token: string, patch: Patch): Outcome {
    const s = this.live(app, token);
    if (!s) return { ok: true, value: null };
    const d = s.d.map((e) => [...e] as Entry);
    for (const [k, v] of Object.entries(patch)) {
      const at = d.findIndex((e) => e[0] === k);
      if (v === null) {
        if (at >= 0) d.splice(at, 1);
      } else if (at >= 0) (d[at] as Entry)[2] = JSON.stringify(v);
      else d.push([k, JSON.stringify(k), JSON.stringify(v)]);
    }
    if (d.length > this.maxKeys && d.length > s.d.length) {
      return { ok: false, code: "ERS_D_TOO_MANY_KEYS" };
    }
    const before = this.view(s);
    this.touch(s);
    s.w++;
    s.d = d;
    const value: Record<string, unknown> = { ...before, w: s.w };
    delete value.d;
    const json = serialize(d);
    if (json) value.d = JSON.parse(json);
    // Keys after d keep their place after it.
    for (const k of ["created", "auth"]) {
      const v = value[k];
      delete value[k];
      value[k] = v;
    }
    return { ok: true, value };
  }

  kill(app: string, token: string): Outcome {
    const s = this.sessions.get(this.key(app, token));
    if (!s) return { ok: true, value: { kill: 0 } };
    const wasAlive = this.alive(s);
    this.remove(s);
    return { ok: true, value: { kill: wasAlive ? 1 : 0 } };
  }

  /** `next` is the token the real store chose (null when it found no session). */
  rotate(app: string, token: string, next: string | null): Outcome {
    const s = this.live(app, token);
    if (!s) return { ok: true, value: null };
    if (next === null) return { ok: true, value: "a new token" };
    const remaining = s.noResave ? s.ttl - (this.now - s.la) : s.ttl;
    this.remove(s);
    const moved: ModelSession = {
      ...s,
      token: next,
      la: this.now,
      seen: this.now,
      ttl: remaining,
    };
    this.sessions.set(this.key(app, next), moved);
    this.users.set(`${app}\n${s.id}`, this.now);
    this.known.push({ app, token: next });
    return { ok: true, value: { token: next } };
  }

  killsoid(app: string, id: string): Outcome {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (s.app !== app || s.id !== id) continue;
      if (this.alive(s)) n++;
      this.remove(s);
    }
    return { ok: true, value: { kill: n } };
  }

  killall(app: string): Outcome {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (s.app !== app) continue;
      if (this.alive(s)) n++;
      this.remove(s);
    }
    return { ok: true, value: { kill: n } };
  }

  /** Live sessions of an id, sorted by token (Redis returns set order). */
  soid(app: string, id: string): Outcome {
    const list = [...this.sessions.values()]
      .filter((s) => s.app === app && s.id === id && this.alive(s))
      .sort((a, b) => (a.token < b.token ? -1 : 1))
      .map((s) => this.view(s, true));
    return { ok: true, value: { sessions: list } };
  }

  /**
   * Live sessions active within dt (bound included, as redis-sessions), most recent first, ties
   * by member in reverse byte order.
   */
  soapp(app: string, dt: number): Outcome {
    const list = [...this.sessions.values()]
      .filter((s) => s.app === app && s.seen >= this.now - dt && this.alive(s))
      .sort((a, b) => b.seen - a.seen || (a.token < b.token ? 1 : -1))
      .map((s) => this.view(s, true));
    return { ok: true, value: { sessions: list } };
  }

  activity(app: string, dt: number): Outcome {
    let n = 0;
    for (const [key, at] of this.users) if (key.startsWith(`${app}\n`) && at >= this.now - dt) n++;
    return { ok: true, value: { activity: n } };
  }

  wipe(): Outcome {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (s.la + s.ttl < this.now) {
        this.remove(s);
        n++;
      }
    }
    return { ok: true, value: n };
  }

  /** Differences between this model and the raw keys of its namespace (empty when equal). */
  diff(raw: RawState): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const r of raw.sessions) {
      const key = this.key(r.app, r.token);
      seen.add(key);
      const s = this.sessions.get(key);
      if (!s) {
        out.push(`Redis has session ${key.replace("\n", ":")} the model has not`);
        continue;
      }
      const expected: Record<string, string> = {
        id: s.id,
        r: String(s.r),
        w: String(s.w),
        ip: s.ip,
        la: String(s.la),
        ttl: String(s.ttl),
      };
      const d = serialize(s.d);
      if (d) expected.d = d;
      if (s.noResave) expected.no_resave = "1";
      // The account fields: created and last authentication, and a random CSRF token.
      expected.ct = String(s.created);
      expected.au = String(s.created);
      const cs = r.fields.cs;
      if (cs !== undefined && /^[A-Za-z0-9_-]{43}$/.test(cs)) expected.cs = cs;
      const a = JSON.stringify(Object.entries(r.fields).sort());
      const b = JSON.stringify(Object.entries(expected).sort());
      if (a !== b) out.push(`session ${r.token}: Redis ${a}, model ${b}`);
      const score = raw.sessionIndex.get(r.app)?.get(`${r.token}:${s.id}`);
      if (score !== s.seen)
        out.push(`_sessions score of ${r.token}: Redis ${score}, model ${s.seen}`);
    }
    for (const key of this.sessions.keys()) {
      if (!seen.has(key)) out.push(`model has session ${key.replace("\n", ":")} Redis has not`);
    }
    const users: string[] = [];
    for (const [app, m] of raw.users) for (const [id, at] of m) users.push(`${app}\n${id}=${at}`);
    const modelUsers = [...this.users].map(([k, at]) => `${k}=${at}`);
    if (JSON.stringify(users.sort()) !== JSON.stringify(modelUsers.sort())) {
      out.push(`_users: Redis ${JSON.stringify(users)}, model ${JSON.stringify(modelUsers)}`);
    }
    return out;
  }
}
