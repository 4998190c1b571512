import { Redis } from "ioredis";
import v4module from "redis-sessions";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions, type StoreOptions } from "../../src/index.js";
import { dumpNamespace, rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { fakeClock, storePool, T0 } from "../helpers/stores.js";
import { until } from "../helpers/wait.js";

// redis-sessions 4.0.0 is CommonJS with `exports.default`; depending on interop we get either.
const RedisSessionsV4 = ((v4module as unknown as { default?: unknown }).default ??
  v4module) as unknown as typeof v4module.default;

const TOKEN = /^[0-9A-Za-z]{64}$/;

let raw: Redis;
const stores = storePool();
const open = stores.open;

beforeAll(() => {
  raw = rawClient();
});
afterEach(async () => {
  await stores.quitAll();
});
afterAll(async () => {
  await raw.quit();
});

function dump(store: RedisSessions) {
  return dumpNamespace(raw, store.options.namespace);
}

const base = { app: "test", ip: "127.0.0.1" } as const;

describe("API and result shapes", () => {
  it("create resolves to exactly {token}, a 64-character alphanumeric token", async () => {
    const rs = open();
    const result = await rs.create({ ...base, id: "user1" });
    expect(Object.keys(result)).toEqual(["token"]);
    expect(result.token).toMatch(TOKEN);
  });

  it("get returns id r w ttl idle ip in that order, then no_resave and d; r counts reads", async () => {
    const rs = open();
    const { token } = await rs.create({ ...base, id: "user1", ttl: 30 });
    const first = await rs.get({ app: "test", token });
    // v4's fields in v4's order, then the additive ones (created, last authentication).
    expect(first).toEqual({
      ...{ id: "user1", r: 1, w: 1, ttl: 30, idle: 0, ip: "127.0.0.1" },
      ...{ created: expect.any(Number), auth: expect.any(Number) },
    });
    const v4Keys = ["id", "r", "w", "ttl", "idle", "ip"];
    expect(Object.keys(first ?? {})).toEqual([...v4Keys, "created", "auth"]);
    // redis-sessions returns the session as it was before this read was counted.
    expect((await rs.get({ app: "test", token }))?.r).toBe(2);

    const other = await rs.create({ ...base, id: "u2", d: { a: 1 }, no_resave: true, ttl: 60 });
    const s = await rs.get({ app: "test", token: other.token });
    expect(Object.keys(s ?? {})).toEqual([...v4Keys, "no_resave", "d", "created", "auth"]);
    expect(s?.no_resave).toBe(true);
    expect(s?.d).toEqual({ a: 1 });
  });

  it("get and set of an unknown token resolve to null", async () => {
    const rs = open();
    const token = "a".repeat(64);
    expect(await rs.get({ app: "test", token })).toBeNull();
    expect(await rs.set({ app: "test", token, d: { a: 1 } })).toBeNull();
    expect(await dump(rs)).toEqual({});
  });

  it("set merges d, counts a write and returns the session with the merged d", async () => {
    const rs = open();
    const { token } = await rs.create({ ...base, id: "user1", d: { a: 1, b: "x" } });
    const s = await rs.set({ app: "test", token, d: { b: null, c: true } });
    expect(s).toEqual({
      id: "user1",
      r: 1,
      w: 2,
      ttl: 7200,
      idle: 0,
      ip: "127.0.0.1",
      d: { a: 1, c: true },
      created: expect.any(Number),
      auth: expect.any(Number),
    });
    expect(Object.keys(s ?? {})).toEqual([
      ...["id", "r", "w", "ttl", "idle", "ip", "d"],
      ...["created", "auth"],
    ]);
    expect((await rs.set({ app: "test", token, d: { z: 0 } }))?.w).toBe(3);
    expect((await rs.get({ app: "test", token }))?.d).toEqual({ a: 1, c: true, z: 0 });
  });

  it("set with only nulls removes d entirely", async () => {
    const rs = open();
    const { token } = await rs.create({ ...base, id: "user1", d: { a: 1 } });
    const s = await rs.set({ app: "test", token, d: { a: null } });
    expect(s && "d" in s).toBe(false);
    expect(await raw.hexists(`${rs.options.namespace}:test:${token}`, "d")).toBe(0);
    expect(Object.keys((await rs.get({ app: "test", token })) ?? {})).not.toContain("d");
  });

  it("kill resolves to {kill: 1} once, then {kill: 0}, and the session is gone", async () => {
    const rs = open();
    const { token } = await rs.create({ ...base, id: "user1" });
    expect(await rs.kill({ app: "test", token })).toEqual({ kill: 1 });
    expect(await rs.kill({ app: "test", token })).toEqual({ kill: 0 });
    expect(await rs.get({ app: "test", token })).toBeNull();
    expect(await dump(rs)).toEqual({});
  });

  it("activity counts distinct ids; deltaTime and v3's dt both work", async () => {
    const rs = open();
    await rs.create({ ...base, id: "a" });
    await rs.create({ ...base, id: "a" });
    await rs.create({ ...base, id: "b" });
    expect(await rs.activity({ app: "test", deltaTime: 60 })).toEqual({ activity: 2 });
    expect(await rs.activity({ app: "test", dt: 60 })).toEqual({ activity: 2 });
    expect(await rs.activity({ app: "test", deltaTime: "60" })).toEqual({ activity: 2 });
    expect(await rs.activity({ app: "other", deltaTime: 60 })).toEqual({ activity: 0 });
  });

  it("activity and soapp include sessions active exactly deltaTime ago, as redis-sessions does", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    await rs.create({ ...base, id: "a", ttl: 3600 });
    clock.t += 10;
    expect(await rs.activity({ app: "test", deltaTime: 10 })).toEqual({ activity: 1 });
    expect((await rs.soapp({ app: "test", deltaTime: 10 })).sessions).toHaveLength(1);
    clock.t += 1;
    expect(await rs.activity({ app: "test", deltaTime: 10 })).toEqual({ activity: 0 });
    expect((await rs.soapp({ app: "test", deltaTime: 10 })).sessions).toHaveLength(0);
  });

  it("soapp lists live sessions most recent first, with tokens, in session key order", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const a = await rs.create({ ...base, id: "a", ttl: 20 });
    clock.t += 5;
    const b = await rs.create({ ...base, id: "b", d: { x: "y" } });
    clock.t += 1;
    const { sessions } = await rs.soapp({ app: "test", deltaTime: 60 });
    expect(sessions.map((s) => s.token)).toEqual([b.token, a.token]);
    expect(Object.keys(sessions[0] ?? {})).toEqual([
      "id",
      "r",
      "w",
      "ttl",
      "idle",
      "ip",
      "d",
      "created",
      "auth",
      "token",
      "handle",
    ]);
    expect(sessions[0]).toMatchObject({ id: "b", r: 1, w: 1, ttl: 7200, idle: 1, d: { x: "y" } });
    expect((await rs.soapp({ app: "test", dt: 60 })).sessions).toHaveLength(2);
    // a expires (ttl 20) while it is still within deltaTime: it is not listed any more.
    clock.t += 20;
    const later = await rs.soapp({ app: "test", deltaTime: 60 });
    expect(later.sessions.map((s) => s.id)).toEqual(["b"]);
  });

  it("soid lists the live sessions of one id with their tokens; unknown ids give []", async () => {
    const rs = open();
    const t1 = await rs.create({ ...base, id: "user1" });
    const t2 = await rs.create({ ...base, id: "user1", d: { n: 1 } });
    await rs.create({ ...base, id: "user2" });
    const { sessions } = await rs.soid({ app: "test", id: "user1" });
    expect(sessions.map((s) => s.token).sort()).toEqual([t1.token, t2.token].sort());
    for (const s of sessions) {
      expect(s.id).toBe("user1");
      expect(Object.keys(s).slice(0, 6)).toEqual(["id", "r", "w", "ttl", "idle", "ip"]);
      expect(Object.keys(s).slice(-2)).toEqual(["token", "handle"]);
    }
    expect(await rs.soid({ app: "test", id: "nobody" })).toEqual({ sessions: [] });
  });

  it("killsoid ends every session of one id and nothing else", async () => {
    const rs = open();
    await rs.create({ ...base, id: "user1" });
    await rs.create({ ...base, id: "user1" });
    const keep = await rs.create({ ...base, id: "user2" });
    expect(await rs.killsoid({ app: "test", id: "user1" })).toEqual({ kill: 2 });
    expect(await rs.killsoid({ app: "test", id: "user1" })).toEqual({ kill: 0 });
    expect(await rs.soid({ app: "test", id: "user1" })).toEqual({ sessions: [] });
    expect(await rs.get({ app: "test", token: keep.token })).not.toBeNull();
    expect(await rs.activity({ app: "test", deltaTime: 60 })).toEqual({ activity: 1 });
  });

  it("killall ends every session of one app, leaves other apps alone and no keys behind", async () => {
    const rs = open();
    for (let i = 0; i < 5; i++) await rs.create({ ...base, id: `u${i % 2}`, d: { i } });
    const other = await rs.create({ ...base, app: "other", id: "u0" });
    expect(await rs.killall({ app: "test" })).toEqual({ kill: 5 });
    expect(await rs.killall({ app: "test" })).toEqual({ kill: 0 });
    expect(await rs.get({ app: "other", token: other.token })).not.toBeNull();
    const keys = Object.keys(await dump(rs));
    expect(keys.filter((k) => k.includes(":test:"))).toEqual([]);
  });

  it("killall gets past more than one batch of expired sessions to the live ones", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    // 1001 expired sessions sort before the live one in _sessions (older activity).
    await Promise.all(
      Array.from({ length: 1001 }, (_, i) => rs.create({ ...base, id: `old${i}`, ttl: 10 })),
    );
    clock.t += 100;
    const live = await rs.create({ ...base, id: "live" });
    expect(await rs.killall({ app: "test" })).toEqual({ kill: 1 });
    expect(await rs.get({ app: "test", token: live.token })).toBeNull();
    expect(await dump(rs)).toEqual({});
  });

  it("rotate moves a session to a new token with the same id, data and counters", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const ns = rs.options.namespace;
    const { token } = await rs.create({ ...base, id: "user1", ttl: 600, d: { a: 1 } });
    await rs.get({ app: "test", token });
    clock.t += 3;
    const rotated = await rs.rotate({ app: "test", token });
    expect(Object.keys(rotated ?? {})).toEqual(["token"]);
    const next = rotated?.token ?? "";
    expect(next).toMatch(TOKEN);
    expect(next).not.toBe(token);
    expect(await rs.get({ app: "test", token })).toBeNull();
    expect(await rs.get({ app: "test", token: next })).toEqual({
      id: "user1",
      r: 2,
      w: 1,
      ttl: 600,
      idle: 0,
      ip: "127.0.0.1",
      d: { a: 1 },
      created: T0,
      auth: T0,
    });
    const keys = await dump(rs);
    expect(keys[`${ns}:test:${token}`]).toBeUndefined();
    expect(keys[`${ns}:test:us:user1`]).toEqual({ set: [next] });
    expect(keys[`${ns}:test:_sessions`]).toEqual({ zset: [`${next}:user1`, String(clock.t)] });
    expect(keys[`${ns}:SESSIONS`]).toEqual({ zset: [`test:${next}:user1`, String(clock.t + 600)] });
    expect(await rs.rotate({ app: "test", token })).toBeNull();
  });

  it("ping resolves to PONG; quit can be called twice", async () => {
    const rs = open();
    expect(await rs.ping()).toBe("PONG");
    await rs.quit();
    await rs.quit();
  });

  it("wipe removes expired sessions now and resolves to how many", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    await rs.create({ ...base, id: "a", ttl: 10 });
    await rs.create({ ...base, id: "b", ttl: 10 });
    const live = await rs.create({ ...base, id: "c", ttl: 100 });
    clock.t += 11;
    expect(await rs.wipe()).toBe(2);
    expect(await rs.wipe()).toBe(0);
    expect(Object.keys(await dump(rs)).filter((k) => k.endsWith(":a") || k.endsWith(":b"))).toEqual(
      [],
    );
    expect(await rs.get({ app: "test", token: live.token })).not.toBeNull();
  });

  it("cacheStats counts a miss then a hit with cachetime", async () => {
    const rs = open({ cachetime: 10 });
    await until(() => rs.cacheStats().active, { ms: 3000, what: "the cache to subscribe" });
    const { token } = await rs.create({ ...base, id: "user1" });
    const first = await rs.get({ app: "test", token });
    const second = await rs.get({ app: "test", token });
    expect(second).toEqual(first);
    expect(rs.cacheStats()).toMatchObject({ hits: 1, misses: 1, size: 1, active: true });
  });
});

describe("Redis data layout (redis-sessions 4.0.0, byte for byte)", () => {
  it("create writes the hash fields, members and scores of redis-sessions", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const ns = rs.options.namespace;
    const d = { a: 1, s: "x" };
    const { token } = await rs.create({ ...base, id: "user1", ttl: 3600, d, no_resave: true });
    const keys = await dump(rs);
    expect(keys).toEqual({
      [`${ns}:SESSIONS`]: { zset: [`test:${token}:user1`, String(T0 + 3600)] },
      [`${ns}:test:${token}`]: {
        hash: {
          id: "user1",
          r: "1",
          w: "1",
          ip: "127.0.0.1",
          la: String(T0),
          ttl: "3600",
          d: JSON.stringify(d),
          no_resave: "1",
          // Additive fields after v4's: created, last authentication, CSRF token.
          ct: String(T0),
          au: String(T0),
          cs: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        },
      },
      [`${ns}:test:_sessions`]: { zset: [`${token}:user1`, String(T0)] },
      [`${ns}:test:_users`]: { zset: ["user1", String(T0)] },
      [`${ns}:test:us:user1`]: { set: [token] },
    });
    // Same field order as redis-sessions' HSET.
    expect(Object.keys(await raw.hgetall(`${ns}:test:${token}`))).toEqual([
      "id",
      "r",
      "w",
      "ip",
      "la",
      "ttl",
      "d",
      "no_resave",
      "ct",
      "au",
      "cs",
    ]);
  });

  it("a session made by redis-sessions 4.0.0 is read, changed and killed by this store", async () => {
    const namespace = uniqueNamespace();
    const v4 = new RedisSessionsV4({ options: { url: redisUrl() }, namespace, wipe: 0 });
    stores.track(v4);
    const rs = open({ namespace });
    const { token } = await v4.create({
      app: "test",
      id: "user1",
      ip: "1.2.3.4",
      ttl: 60,
      d: { a: 1 },
    });
    expect(await rs.get({ app: "test", token })).toMatchObject({
      id: "user1",
      r: 1,
      ttl: 60,
      d: { a: 1 },
    });
    expect((await rs.set({ app: "test", token, d: { b: "x" } }))?.d).toEqual({ a: 1, b: "x" });
    expect(await v4.get({ app: "test", token })).toMatchObject({ r: 2, w: 2, d: { a: 1, b: "x" } });
    expect((await rs.soid({ app: "test", id: "user1" })).sessions).toHaveLength(1);
    expect(await rs.kill({ app: "test", token })).toEqual({ kill: 1 });
    expect(await v4.get({ app: "test", token })).toBeNull();
    expect(await dump(rs)).toEqual({});
  });

  it("a session made by this store is read, changed and killed by redis-sessions 4.0.0", async () => {
    const namespace = uniqueNamespace();
    const v4 = new RedisSessionsV4({ options: { url: redisUrl() }, namespace, wipe: 0 });
    stores.track(v4);
    const rs = open({ namespace });
    const { token } = await rs.create({ ...base, id: "user1", ttl: 60, d: { a: 1 } });
    expect(await v4.get({ app: "test", token })).toEqual({
      id: "user1",
      r: 1,
      w: 1,
      ttl: 60,
      idle: 0,
      ip: "127.0.0.1",
      d: { a: 1 },
    });
    // redis-sessions' own types forbid the null that its code accepts (null deletes a key).
    await v4.set({ app: "test", token, d: { a: null, b: true } as unknown as { b: boolean } });
    expect(await rs.get({ app: "test", token })).toMatchObject({ r: 2, w: 2, d: { b: true } });
    expect(await v4.activity({ app: "test", deltaTime: 60 })).toEqual({ activity: 1 });
    expect(await v4.kill({ app: "test", token })).toEqual({ kill: 1 });
    expect(await rs.get({ app: "test", token })).toBeNull();
    expect(await dump(rs)).toEqual({});
  });
});

describe("options", () => {
  it("namespace prefixes every key; the default is rs", async () => {
    const ns = uniqueNamespace("ns");
    const rs = open({ namespace: ns });
    const { token } = await rs.create({ ...base, id: "user1" });
    const keys = Object.keys(await dump(rs));
    expect(keys).toHaveLength(5);
    for (const k of keys) expect(k.startsWith(`${ns}:`)).toBe(true);
    expect(keys).toContain(`${ns}:test:${token}`);
    const def = stores.track(new RedisSessions({ redis: redisUrl(), wipe: 0 }));
    expect(def.options.namespace).toBe("rs");
    expect(def.keys.session("test", token)).toBe(`rs:test:${token}`);
  });

  it("an empty namespace gives the prefix ':' as redis-sessions 4.0.0's `??` does", async () => {
    const rs = open({ namespace: "" });
    const app = uniqueNamespace("app").slice(0, 20);
    const { token } = await rs.create({ ...base, app, id: "user1" });
    expect(await raw.hget(`:${app}:${token}`, "id")).toBe("user1");
    expect(await rs.killall({ app })).toEqual({ kill: 1 });
    expect(await raw.exists(`:${app}:${token}`, `:${app}:_sessions`, `:${app}:us:user1`)).toBe(0);
  });

  it.each([
    [undefined, 600],
    [0, 0],
    [1, 10],
    [5, 10],
    [10, 10],
    [3600, 3600],
  ])("wipe %s runs every %s s (below 10 counts as 10; 0 disables)", (wipe, expected) => {
    const rs = open({ wipe });
    expect(rs.options.wipe).toBe(expected);
  });

  it("clock gives the time in unix seconds; without it Redis' TIME is used", async () => {
    const clock = fakeClock(1_800_000_123);
    const faked = open({ clock: clock.now });
    const a = await faked.create({ ...base, id: "user1", ttl: 50 });
    expect(await raw.hget(`${faked.options.namespace}:test:${a.token}`, "la")).toBe("1800000123");
    expect(await raw.zscore(`${faked.options.namespace}:SESSIONS`, `test:${a.token}:user1`)).toBe(
      "1800000173",
    );

    const real = open();
    const [before] = await raw.time();
    const b = await real.create({ ...base, id: "user1" });
    const [after] = await raw.time();
    const la = Number(await raw.hget(`${real.options.namespace}:test:${b.token}`, "la"));
    expect(la).toBeGreaterThanOrEqual(Number(before));
    expect(la).toBeLessThanOrEqual(Number(after));
  });

  it("never changes the options or parameter objects it is given", async () => {
    const url = new URL(redisUrl());
    const redis = deepFreeze({ host: url.hostname, port: Number(url.port), commandTimeout: 800 });
    const options = deepFreeze({ redis, namespace: uniqueNamespace(), wipe: 0, maxDataKeys: 10 });
    const optionsCopy = structuredClone(options);
    const rs = stores.track(new RedisSessions(options));
    const create = deepFreeze({ ...base, id: "user1", ttl: 60, d: { a: 1, gone: null } });
    const createCopy = structuredClone(create);
    // redis-sessions 4.0.0 rewrote params.d, so reusing the object failed the second time.
    const { token } = await rs.create(create);
    await rs.create(create);
    const set = deepFreeze({ app: "test", token, d: { a: null, b: 2 } });
    const setCopy = structuredClone(set);
    await rs.set(set);
    expect(options).toEqual(optionsCopy);
    expect(create).toEqual(createCopy);
    expect(set).toEqual(setCopy);
    expect((await rs.soid({ app: "test", id: "user1" })).sessions).toHaveLength(2);
  });

  it.each<[string, unknown]>([
    ["namespace", 5],
    ["namespace", "a b"],
    ["namespace", "{tag}"],
    ["namespace", "n".repeat(65)],
    ["wipe", -1],
    ["wipe", "600"],
    ["wipe", Number.NaN],
    ["cachetime", -1],
    ["cachetime", "5"],
    ["cachemax", -1],
    ["cachemaxBytes", -5],
    ["maxDataBytes", 1],
    ["maxDataBytes", "64k"],
    ["maxDataKeys", 0],
    ["timeout", 0],
    ["timeout", "1000"],
    ["clock", 123],
    ["client", "redis://127.0.0.1:6379"],
    ["redis", 42],
    ["redis", null],
  ])("option %s = %j throws a TypeError that names it", (name, value) => {
    expect(() => new RedisSessions({ wipe: 0, [name]: value } as StoreOptions)).toThrow(TypeError);
    expect(() => new RedisSessions({ wipe: 0, [name]: value } as StoreOptions)).toThrow(
      `option "${name}"`,
    );
  });

  it("a client you pass is used and left open by quit", async () => {
    const client = new Redis(redisUrl(), { commandTimeout: 1000 });
    try {
      const rs = new RedisSessions({ client, namespace: uniqueNamespace(), wipe: 0 });
      expect(rs.redis).toBe(client);
      const { token } = await rs.create({ ...base, id: "user1" });
      expect((await rs.get({ app: "test", token }))?.id).toBe("user1");
      await rs.quit();
      expect(client.status).toBe("ready");
      expect(await client.hget(`${rs.options.namespace}:test:${token}`, "id")).toBe("user1");
    } finally {
      await client.quit();
    }
  });

  it("redis-sessions 4.0.0's options: {url, database} selects that database", async () => {
    const rs = open({ redis: undefined, options: { url: redisUrl(), database: 5 } });
    const { token } = await rs.create({ ...base, id: "user1" });
    const key = `${rs.options.namespace}:test:${token}`;
    expect(await raw.exists(key)).toBe(0);
    const db5 = new Redis(redisUrl(), { db: 5 });
    try {
      expect(await db5.hget(key, "id")).toBe("user1");
    } finally {
      await db5.quit();
    }
  });

  it("redis accepts a URL, ioredis options, and host/port work as in redis-sessions", async () => {
    const url = new URL(redisUrl());
    const host = url.hostname;
    const port = Number(url.port);
    const namespace = uniqueNamespace();
    const byUrl = open({ namespace, redis: redisUrl() });
    const byOptions = open({ namespace, redis: { host, port } });
    const byHostPort = open({ namespace, redis: undefined, host, port });
    const { token } = await byUrl.create({ ...base, id: "user1" });
    expect((await byOptions.get({ app: "test", token }))?.r).toBe(1);
    expect((await byHostPort.get({ app: "test", token }))?.r).toBe(2);
    expect(byUrl.options.timeout).toBe(1000);
  });
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
