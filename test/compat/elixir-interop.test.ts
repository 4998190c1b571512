/**
 * Interop with the Elixir port (ex-redis-sessions 0.3.0, through its command-for-command test
 * double, ./elixir-port.ts) and redis-sessions 4.0.0 on one Redis and one namespace. The port
 * scores `_sessions` and `_users` in milliseconds and `SESSIONS` with the text now_ms‖ttl; this
 * store must count, list, read, write and wipe its sessions exactly as v4-written ones.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { namespaceKeys, rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { ElixirPort, ElixirPortCrash } from "./elixir-port.js";
import { closeV4, openV4, type V4Sessions } from "./upstream/v4.js";

const app = "mixed";
/** 2026-12-08, in seconds: every client's clock starts here. */
const T0 = 1_796_620_208;

let raw: Redis;
let portRedis: Redis;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  raw = rawClient();
  portRedis = rawClient();
});

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

afterAll(async () => {
  await Promise.all([raw.quit(), portRedis.quit()]);
});

/** One namespace shared by the three clients, on one clock (seconds; the port adds its ms). */
function mixed() {
  const ns = uniqueNamespace("mx");
  const clock = { now: T0, ms: 529 };
  const ours = new RedisSessions({
    redis: redisUrl(),
    namespace: ns,
    wipe: 0,
    clock: () => clock.now,
  });
  const v4: V4Sessions = openV4(redisUrl(), ns, { clock: () => clock.now });
  const ex = new ElixirPort({
    redis: portRedis,
    namespace: ns,
    clock: () => clock.now * 1000 + clock.ms,
  });
  cleanups.push(
    () => ours.quit(),
    () => closeV4(v4),
  );
  const score = (key: string, member: string) => raw.zscore(`${ns}:${key}`, member);
  return { ns, clock, ours, v4, ex, score };
}

describe("sessions move both ways between this store and the Elixir port", () => {
  it("a session the port created: read, changed, listed, counted, rotated and killed here", async () => {
    const { clock, ours, ex, score } = mixed();
    // Poison writes d with keys in descending order, Erlang floats, and nested values.
    const { token } = await ex.create({
      app,
      id: "alice",
      ip: "10.0.0.1",
      ttl: 600,
      d: { a: 1, f: 1e-7, n: { deep: [1, 2] }, z: "x" },
    });
    expect(await score("SESSIONS", `${app}:${token}:alice`)).toBe(String(Number(`${T0}529600`)));
    clock.now += 20;
    expect(await ours.activity({ app, deltaTime: 30 })).toEqual({ activity: 1 });
    expect(await ours.activity({ app, deltaTime: 10 })).toEqual({ activity: 0 });
    expect((await ours.soapp({ app, deltaTime: 30 })).sessions.map((s) => s.token)).toEqual([
      token,
    ]);
    expect((await ours.soapp({ app, deltaTime: 10 })).sessions).toEqual([]);
    expect((await ours.soid({ app, id: "alice" })).sessions).toHaveLength(1);
    const got = await ours.get({ app, token });
    expect(got).toEqual({
      id: "alice",
      r: 1,
      w: 1,
      ttl: 600,
      idle: 20,
      ip: "10.0.0.1",
      d: { z: "x", n: { deep: [1, 2] }, f: 1e-7, a: 1 },
      // Additive: created, backfilled (never written) from the port's token (Z + base-36 ms).
      created: Math.floor(Number(`${T0}529`) / 1000),
    });
    // Our read rewrote the scores in seconds.
    expect(await score(`${app}:_sessions`, `${token}:alice`)).toBe(String(clock.now));
    expect(await score("SESSIONS", `${app}:${token}:alice`)).toBe(String(clock.now + 600));
    const set = await ours.set({ app, token, d: { z: null, b: true } as never });
    expect(set?.d).toEqual({ n: { deep: [1, 2] }, f: 1e-7, a: 1, b: true });
    // The port reads what we wrote, and writes on.
    clock.now += 5;
    expect(await ex.get({ app, token })).toMatchObject({ id: "alice", r: 3, w: 2, idle: 5 });
    expect(await ex.set({ app, token, d: { c: 3 } })).toMatchObject({ w: 3 });
    expect((await ours.get({ app, token }))?.d).toEqual({
      n: { deep: [1, 2] },
      f: 1e-7,
      c: 3,
      b: true,
      a: 1,
    });
    const rotated = await ours.rotate({ app, token });
    expect(rotated?.token).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(await ex.get({ app, token })).toBeNull();
    expect(await ex.get({ app, token: rotated?.token as string })).toMatchObject({ id: "alice" });
    expect(await ours.kill({ app, token: rotated?.token as string })).toEqual({ kill: 1 });
    expect(await ex.get({ app, token: rotated?.token as string })).toBeNull();
  });

  it("a session the port created without d, and the port's killsoid and killall of ours", async () => {
    const { clock, ours, ex } = mixed();
    const bare = await ex.create({ app, id: "bob", ip: "10.0.0.2" });
    expect(await ours.get({ app, token: bare.token })).not.toHaveProperty("d");
    expect((await ours.set({ app, token: bare.token, d: { k: 1 } }))?.d).toEqual({ k: 1 });
    // Ours, seen by the port: get, set, soid, killsoid.
    const mine = await ours.create({ app, id: "bob", ip: "10.0.0.3", d: { v: 1 } });
    clock.now += 2;
    expect(await ex.get({ app, token: mine.token })).toMatchObject({ id: "bob", d: { v: 1 } });
    expect(await ex.set({ app, token: mine.token, d: { v: 2 } })).toMatchObject({ d: { v: 2 } });
    const short = await ours.create({ app, id: "bob2", ip: "1", d: { v: 1 } });
    expect(await ex.kill({ app, token: short.token })).toEqual({ kill: 1 });
    expect(await ours.get({ app, token: short.token })).toBeNull();
    expect((await ex.soid({ app, id: "bob" })).sessions).toHaveLength(2);
    expect(await ex.killsoid({ app, id: "bob" })).toEqual({ kill: 2 });
    expect(await ours.soid({ app, id: "bob" })).toEqual({ sessions: [] });
    // The port's killall ends ours too; ours ends the port's.
    const a = await ours.create({ app, id: "carol", ip: "1", d: { x: 1 } });
    const b = await ex.create({ app, id: "dave", ip: "1" });
    expect(await ex.killall({ app })).toEqual({ kill: 2 });
    expect(await ours.get({ app, token: a.token })).toBeNull();
    expect(await ours.get({ app, token: b.token })).toBeNull();
    const c = await ex.create({ app, id: "erin", ip: "1" });
    const d = await ex.create({ app, id: "erin", ip: "1" });
    expect(await ours.killsoid({ app, id: "erin" })).toEqual({ kill: 2 });
    await ex.create({ app, id: "fred", ip: "1" });
    expect(await ours.killall({ app })).toEqual({ kill: 1 });
    for (const t of [c, d]) expect(await ex.get({ app, token: t.token })).toBeNull();
    // Nothing of the app is left in Redis.
    const ns = ours.options.namespace;
    expect((await namespaceKeys(raw, ns)).filter((k) => k.startsWith(`${ns}:${app}:`))).toEqual([]);
  });

  it("the port ignores no_resave: its set gives our fixed-lifetime session a new idle timeout", async () => {
    const { clock, ours, ex } = mixed();
    const { token } = await ours.create({
      app,
      id: "nora",
      ip: "1",
      ttl: 100,
      no_resave: true,
      d: { v: 1 },
    });
    clock.now += 50;
    await ex.set({ app, token, d: { v: 2 } });
    clock.now += 70;
    // 120 s after create: dead by no_resave's rule, alive after the port's set.
    expect(await ours.get({ app, token })).toMatchObject({ no_resave: true, idle: 70, ttl: 30 });
  });

  it("a port crash on our data (a set without d) changes nothing", async () => {
    const { ours, ex } = mixed();
    const { token } = await ours.create({ app, id: "gina", ip: "1" });
    await expect(ex.set({ app, token, d: { a: 1 } })).rejects.toBeInstanceOf(ElixirPortCrash);
    expect(await ours.get({ app, token })).toMatchObject({ r: 1, w: 1 });
  });
});

describe("redis-sessions 4 beside the port", () => {
  it("reads, writes and kills its sessions, but counts them as active for ever and never wipes them", async () => {
    const { clock, ours, v4, ex } = mixed();
    const a = await ex.create({ app, id: "ivan", ip: "1", ttl: 60, d: { k: 1 } });
    const b = await ex.create({ app, id: "judy", ip: "1", ttl: 60, d: { k: 2 } });
    clock.now += 10;
    expect(await v4.get({ app, token: a.token })).toMatchObject({ id: "ivan", d: { k: 1 } });
    expect(await v4.set({ app, token: a.token, d: { k: 3 } })).toMatchObject({ d: { k: 3 } });
    expect(await v4.kill({ app, token: a.token })).toEqual({ kill: 1 });
    const c = await ex.create({ app, id: "kim", ip: "1", ttl: 600 });
    expect((await v4.soid({ app, id: "kim" })).sessions).toHaveLength(1);
    expect(await v4.killsoid({ app, id: "kim" })).toEqual({ kill: 1 });
    expect(await ex.get({ app, token: c.token })).toBeNull();
    const d = await ex.create({ app, id: "lara", ip: "1", ttl: 600 });
    const other = await ex.create({ app: "other", id: "lara", ip: "1", ttl: 600 });
    expect(await v4.killall({ app: "other" })).toEqual({ kill: 1 });
    expect(await ex.get({ app: "other", token: other.token })).toBeNull();
    expect(await ex.kill({ app, token: d.token })).toEqual({ kill: 1 });
    // judy's session expires untouched: v4 still counts her (milliseconds are above any now in
    // seconds), its wiper leaves her; ours counts her no more and removes her.
    clock.now += 600;
    expect(await v4.activity({ app, deltaTime: 60 })).toEqual({ activity: 1 });
    expect(await ours.activity({ app, deltaTime: 60 })).toEqual({ activity: 0 });
    await v4._wipe();
    expect(await ours.countSessions({ app, deltaTime: 100_000 })).toEqual({ count: 1 });
    expect(await ours.wipe()).toBe(1);
    expect(await v4.activity({ app, deltaTime: 60 })).toEqual({ activity: 0 });
    expect(await ex.get({ app, token: b.token })).toBeNull();
  });
});

describe("one wipe for everyone (the port runs with wipe: 0)", () => {
  it("keeps every live session of every client and removes every expired one", async () => {
    const { clock, ours, v4, ex, ns } = mixed();
    const live: string[] = [];
    const dead: string[] = [];
    for (const [who, ttl, id] of [
      ["ex", 60, "e1"],
      ["ex", 600, "e2"],
      ["ex", 12000, "e3"],
      ["v4", 60, "v1"],
      ["v4", 600, "v2"],
      ["ours", 60, "o1"],
      ["ours", 600, "o2"],
    ] as const) {
      const client = who === "ex" ? ex : who === "v4" ? v4 : ours;
      const { token } = await client.create({ app, id, ip: "1", ttl });
      (ttl === 60 ? dead : live).push(token);
    }
    // A session the port touched last (ms scores again) that is still alive.
    clock.now += 50;
    const touched = await ours.create({ app, id: "e4", ip: "1", ttl: 100, d: { a: 1 } });
    await ex.set({ app, token: touched.token, d: { a: 2 } });
    live.push(touched.token);
    clock.now += 30; // 80 s after the start: every ttl-60 session is expired
    expect(await ours.wipe()).toBe(3);
    const keys = await namespaceKeys(raw, ns);
    const expiries = await raw.zrange(`${ns}:SESSIONS`, "0", "-1");
    for (const token of dead) {
      expect(keys.filter((k) => k.includes(token))).toEqual([]);
      expect(expiries.filter((m) => m.includes(token))).toEqual([]);
    }
    // Every entry is in redis-sessions' format now: SESSIONS (la + ttl) and activity in seconds.
    for (const key of [`${ns}:SESSIONS`, `${ns}:${app}:_sessions`, `${ns}:${app}:_users`]) {
      const s = await raw.zrange(key, "0", "-1", "WITHSCORES");
      expect(s.length).toBeGreaterThan(0);
      for (let i = 1; i < s.length; i += 2) expect(Number(s[i]), key).toBeLessThan(1e11);
    }
    expect(await raw.zscore(`${ns}:SESSIONS`, `${app}:${touched.token}:e4`)).toBe(String(T0 + 150));
    // Each live session is still there (soid reads without refreshing anything).
    for (const id of ["e2", "e3", "e4", "v2", "o2"]) {
      expect((await ours.soid({ app, id })).sessions, id).toHaveLength(1);
    }
    // Rewritten port sessions expire on time: e2, v2, o2 (600 s) and e4 (100 s after its set).
    clock.now += 600;
    expect(await ours.wipe()).toBe(4);
    expect(await ours.activity({ app, deltaTime: 100_000 })).toEqual({ activity: 1 });
    clock.now += 12_000;
    expect(await ours.wipe()).toBe(1);
    expect(await namespaceKeys(raw, ns)).toEqual([]);
  });

  it("puts back _users entries the port's kill removed, and drops those without sessions", async () => {
    const { clock, ours, ex, ns } = mixed();
    const first = await ex.create({ app, id: "hank", ip: "1" });
    await ours.create({ app, id: "hank", ip: "1" });
    clock.now += 5;
    // The port's kill removes the id from _users although hank keeps a session.
    await ex.kill({ app, token: first.token });
    expect(await ours.activity({ app, deltaTime: 60 })).toEqual({ activity: 0 });
    // And an id whose sessions are gone but whose _users entry stayed (a client that died
    // between its kill and its ZREM _users).
    await raw.zadd(`${ns}:${app}:_users`, clock.now, "ghost");
    expect(await ours.activity({ app, deltaTime: 60 })).toEqual({ activity: 1 });
    expect(await ours.wipe()).toBe(0);
    expect(await ours.activity({ app, deltaTime: 60 })).toEqual({ activity: 1 });
    expect(await raw.zrange(`${ns}:${app}:_users`, "0", "-1")).toEqual(["hank"]);
  });
});

describe("activity and soapp over both score formats", () => {
  it("agree with a model of every session's last activity, whole and paged", async () => {
    const { clock, ours, v4, ex } = mixed();
    const model = new Map<string, { id: string; at: number; member: string; ttl: number }>();
    const users = new Map<string, number>();
    // 60 sessions over 10 minutes, by all three clients, some ids shared between clients.
    for (let i = 0; i < 60; i++) {
      const who = ["ex", "v4", "ours"][i % 3] as "ex" | "v4" | "ours";
      const id = `u${i % 23}`;
      const ttl = i % 7 === 0 ? 30 : 3600;
      clock.ms = (i * 37) % 1000;
      const client = who === "ex" ? ex : who === "v4" ? v4 : ours;
      const { token } = await client.create({ app, id, ip: "1", ttl });
      // The port's activity is in ms; as a time it sorts within its second.
      const at = who === "ex" ? clock.now + clock.ms / 1000 : clock.now;
      model.set(token, { id, at, member: `${token}:${id}`, ttl });
      users.set(id, at);
      clock.now += 10;
    }
    for (const dt of [30, 100, 300, 1000]) {
      const since = clock.now - dt;
      const ids = [...users.values()].filter((at) => at >= since).length;
      expect(await ours.activity({ app, deltaTime: dt }), `activity ${dt}`).toEqual({
        activity: ids,
      });
      const expected = [...model]
        .filter(([, s]) => s.at >= since && s.ttl >= clock.now - Math.floor(s.at))
        .sort(
          ([, a], [, b]) =>
            b.at - a.at || Buffer.compare(Buffer.from(b.member), Buffer.from(a.member)),
        )
        .map(([token]) => token);
      const whole = (await ours.soapp({ app, deltaTime: dt })).sessions.map((s) => s.token);
      expect(whole, `soapp ${dt}`).toEqual(expected);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { sessions: { token: string }[]; cursor: string | null } = await ours.soapp({
          app,
          deltaTime: dt,
          limit: 4,
          cursor,
        });
        paged.push(...page.sessions.map((s) => s.token));
        cursor = page.cursor;
      } while (cursor);
      expect(paged, `paged soapp ${dt}`).toEqual(expected);
      const indexed = [...model.values()].filter((s) => s.at >= since).length;
      expect(await ours.countSessions({ app, deltaTime: dt })).toEqual({ count: indexed });
    }
  });
});
