import { Redis } from "ioredis";
import v4module from "redis-sessions";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { RedisSessions } from "../../src/index.js";
import { runStoreScript } from "../helpers/child.js";
import { dumpNamespace, rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { openMonitor } from "../helpers/monitor.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { fakeClock, storePool, T0 } from "../helpers/stores.js";
import { until } from "../helpers/wait.js";

/*
 * One test (or more) per defect of redis-sessions 4.0.0 (reference §4), each of which would fail
 * on 4.0.0. Where it is cheap, a "control" runs the same scenario on 4.0.0 itself and shows the
 * defect, so these tests are known to be able to fail.
 */

const RedisSessionsV4 = ((v4module as unknown as { default?: unknown }).default ??
  v4module) as unknown as typeof v4module.default;
type V4 = InstanceType<typeof RedisSessionsV4>;

const base = { app: "test", ip: "127.0.0.1" } as const;

let raw: Redis;
const stores = storePool();
const open = stores.open;

beforeAll(() => {
  raw = rawClient();
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await stores.quitAll();
});
afterAll(async () => {
  await raw.quit();
});

/** redis-sessions 4.0.0 itself, for controls; its cache subscriber is closed too on cleanup. */
function openV4(namespace: string, cachetime = 0): V4 {
  const v4 = new RedisSessionsV4({ options: { url: redisUrl() }, namespace, wipe: 0, cachetime });
  stores.track({
    quit: async () => {
      await v4.quit();
      const sub = (v4 as unknown as { redissub: { quit(): Promise<unknown> } | null }).redissub;
      await sub?.quit();
    },
  });
  return v4;
}

const dump = (ns: string) => dumpNamespace(raw, ns);

/** The wiper behind the timer (private): lets a test run one timer-style wipe, lease and all. */
function wiperOf(store: RedisSessions): { run(force?: boolean): Promise<number> } {
  return (store as unknown as { wiper: { run(force?: boolean): Promise<number> } }).wiper;
}

describe("concurrent set: no lost update", () => {
  const keys = Array.from({ length: 400 }, (_, i) => `k${i}`);

  it("400 concurrent sets of distinct keys on one session keep all 400", async () => {
    const namespace = uniqueNamespace();
    // Four connections, so the sets really race on the server.
    // A generous timeout: on a loaded machine 400 queued scripts may take longer than 1 s.
    const writers = [0, 1, 2, 3].map(() => open({ namespace, maxDataKeys: 1000, timeout: 10_000 }));
    const { token } = await writers[0]!.create({ ...base, id: "user1" });
    const results = await Promise.all(
      keys.map((k, i) => writers[i % 4]!.set({ app: "test", token, d: { [k]: i } })),
    );
    expect(results.every((s) => s !== null)).toBe(true);
    const s = await writers[0]!.get({ app: "test", token });
    expect(Object.keys(s?.d ?? {}).sort()).toEqual([...keys].sort());
    for (const [i, k] of keys.entries()) expect(s?.d?.[k]).toBe(i);
    expect(s?.w).toBe(401);
    // Every set saw a distinct w: each was applied exactly once, one after the other.
    expect(new Set(results.map((r) => r?.w)).size).toBe(400);
  });

  it("control: redis-sessions 4.0.0 loses keys in the same scenario", async () => {
    const v4 = openV4(uniqueNamespace());
    const { token } = await v4.create({ ...base, id: "user1" });
    await Promise.all(keys.map((k, i) => v4.set({ app: "test", token, d: { [k]: i } })));
    const s = await v4.get({ app: "test", token });
    expect(Object.keys(s?.d ?? {}).length).toBeLessThan(400);
  });
});

describe("set or get racing kill leaves no debris", () => {
  it("50 rounds of Promise.all([set, kill]) and [get, kill] leave no key behind", async () => {
    const namespace = uniqueNamespace();
    const a = open({ namespace });
    const b = open({ namespace });
    for (let i = 0; i < 50; i++) {
      const { token } = await a.create({ ...base, id: `u:${i}`, d: { i } });
      const p = { app: "test", token };
      // Alternate which connection sends first, so both orders happen.
      const ops =
        i % 2
          ? [a.set({ ...p, d: { x: i } }), b.kill(p), a.get(p)]
          : [b.kill(p), a.set({ ...p, d: { x: i } }), a.get(p)];
      await Promise.all(ops);
      expect(await a.get(p)).toBeNull();
    }
    expect(await dump(namespace)).toEqual({});
  });
});

describe("kill does not count a read", () => {
  it("kill sends no HINCRBY and refreshes no activity score (MONITOR)", async () => {
    // MONITOR on a server of its own: on the shared one, other files' traffic floods it.
    const own = await startRedisServer();
    const ownRaw = new Redis(own.url);
    const clock = fakeClock();
    const rs = open({ clock: clock.now, redis: own.url });
    const ns = rs.options.namespace;
    const one = await rs.create({ ...base, id: "user1" });
    await rs.create({ ...base, id: "user1" });
    clock.t += 100;
    const monitor = await openMonitor(own.host, own.port);
    const ofNs = () =>
      monitor.lines.map((l) => l.args).filter((args) => args.some((a) => a.startsWith(ns)));
    try {
      expect(await rs.kill({ app: "test", token: one.token })).toEqual({ kill: 1 });
      const deleted = (args: string[]) => args[0]?.toUpperCase() === "DEL";
      await until(() => ofNs().some(deleted), { ms: 3000, every: 5, what: "the DEL in MONITOR" });
      const commands = ofNs().map((args) => args[0]?.toUpperCase());
      expect(commands).not.toContain("HINCRBY");
      expect(commands).not.toContain("ZADD");
      // redis-sessions 4.0.0's kill ran a full get first: user1 would now look active at T0 + 100.
      expect(await ownRaw.zscore(`${ns}:test:_users`, "user1")).toBe(String(T0));
      expect(await rs.activity({ app: "test", deltaTime: 50 })).toEqual({ activity: 0 });
    } finally {
      monitor.close();
      await rs.quit();
      ownRaw.disconnect();
      await own.stop();
    }
  });

  it("control: redis-sessions 4.0.0's kill refreshes the id's activity", async () => {
    const ns = uniqueNamespace();
    const v4 = openV4(ns);
    const one = await v4.create({ ...base, id: "user1" });
    await v4.create({ ...base, id: "user1" });
    await raw.zadd(`${ns}:test:_users`, 1000, "user1");
    await v4.kill({ app: "test", token: one.token });
    expect(Number(await raw.zscore(`${ns}:test:_users`, "user1"))).toBeGreaterThan(1000);
  });

  it("kill of an expired, not yet wiped session reports 0 and removes its keys", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const { token } = await rs.create({ ...base, id: "user1", ttl: 10 });
    clock.t += 11;
    expect(await rs.kill({ app: "test", token })).toEqual({ kill: 0 });
    expect(await dump(rs.options.namespace)).toEqual({});
  });
});

describe("killsoid returns the true count", () => {
  it.each([4, 5, 7])("with %i sessions and a cache, killsoid counts them all", async (n) => {
    const rs = open({ cachetime: 30 });
    for (let i = 0; i < n; i++) await rs.create({ ...base, id: "user1" });
    await rs.create({ ...base, id: "user2" });
    expect(await rs.killsoid({ app: "test", id: "user1" })).toEqual({ kill: n });
    expect(await rs.soid({ app: "test", id: "user1" })).toEqual({ sessions: [] });
    expect(await rs.activity({ app: "test", deltaTime: 60 })).toEqual({ activity: 1 });
  });

  it("only live sessions count; expired ones are removed as well", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    for (let i = 0; i < 3; i++) await rs.create({ ...base, id: "user1", ttl: 10 });
    for (let i = 0; i < 4; i++) await rs.create({ ...base, id: "user1", ttl: 100 });
    clock.t += 11;
    expect(await rs.killsoid({ app: "test", id: "user1" })).toEqual({ kill: 4 });
    expect(await dump(rs.options.namespace)).toEqual({});
  });

  it("control: redis-sessions 4.0.0 with a cache miscounts 4 sessions", async () => {
    const v4 = openV4(uniqueNamespace(), 30);
    for (let i = 0; i < 4; i++) await v4.create({ ...base, id: "user1" });
    expect((await v4.killsoid({ app: "test", id: "user1" })).kill).not.toBe(4);
  });
});

describe("no_resave", () => {
  it("keeps a fixed absolute expiry across many gets in one second; set returns the real w", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const ns = rs.options.namespace;
    const { token } = await rs.create({ ...base, id: "user1", ttl: 30, no_resave: true });
    const p = { app: "test", token };
    const expiry = async () => {
      const [la, ttl] = await raw.hmget(`${ns}:test:${token}`, "la", "ttl");
      const score = await raw.zscore(`${ns}:SESSIONS`, `test:${token}:user1`);
      return { hash: Number(la) + Number(ttl), score: Number(score) };
    };
    for (const step of [1, 0, 0, 0, 2, 0, 3]) {
      clock.t += step;
      const s = await rs.get(p);
      expect(s?.ttl).toBe(T0 + 30 - clock.t);
      expect(s?.no_resave).toBe(true);
      expect(await expiry()).toEqual({ hash: T0 + 30, score: T0 + 30 });
    }
    clock.t += 1;
    const set = await rs.set({ ...p, d: { a: 1 } });
    expect(set?.w).toBe(2);
    expect(set?.ttl).toBe(T0 + 30 - clock.t);
    expect(await raw.hget(`${ns}:test:${token}`, "w")).toBe("2");
    expect((await rs.set({ ...p, d: { a: 2 } }))?.w).toBe(3);
    expect(await expiry()).toEqual({ hash: T0 + 30, score: T0 + 30 });
    clock.t = T0 + 30;
    expect((await rs.get(p))?.ttl).toBe(0);
    clock.t += 1;
    expect(await rs.get(p)).toBeNull();
  });

  it("control: redis-sessions 4.0.0's set on a no_resave session returns w 0", async () => {
    const v4 = openV4(uniqueNamespace());
    const { token } = await v4.create({ ...base, id: "user1", ttl: 30, no_resave: true });
    expect((await v4.set({ app: "test", token, d: { a: 1 } }))?.w).toBe(0);
  });
});

describe("ids containing ':'", () => {
  const ids = ["org:42", "a:b:c", "trailing:", ":leading", "::", "mail:x@y.z"];

  it("are fully removed by killall", async () => {
    const rs = open();
    for (const id of ids) await rs.create({ ...base, id, d: { id } });
    expect(await rs.killall({ app: "test" })).toEqual({ kill: ids.length });
    expect(await dump(rs.options.namespace)).toEqual({});
  });

  it("are fully removed by one wipe", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    for (const id of ids) await rs.create({ ...base, id, ttl: 10 });
    clock.t += 11;
    expect(await rs.wipe()).toBe(ids.length);
    expect(await dump(rs.options.namespace)).toEqual({});
  });

  it("control: redis-sessions 4.0.0's killall leaves keys of such ids behind", async () => {
    const ns = uniqueNamespace();
    const v4 = openV4(ns);
    await v4.create({ ...base, id: "org:42" });
    await v4.killall({ app: "test" });
    expect(Object.keys(await dump(ns)).length).toBeGreaterThan(0);
  });
});

describe("d round-trips exactly as JSON.parse(JSON.stringify(d))", () => {
  const d = {
    // biome-ignore lint/correctness/noPrecisionLoss: the rounding is what is being round-tripped
    big: 12345678901234567,
    sum: 0.1 + 0.2,
    huge: 1e300,
    tiny: 5e-324,
    negzero: -0,
    neg: -123.456e-7,
    int: -42,
    t: true,
    f: false,
    empty: "",
    unicode: "ü 中文 😀 \u2028\u2029",
    escapes: 'quote " backslash \\ slash / nl \n cr \r tab \t nul \u0000 bell \u0007',
    jsonish: '{"a":[1,2]},"}:{',
    lone: "\ud800 x \udc00",
    'key "quoted"': "v1",
    "key\\back": "v2",
    "key\nnl": "v3",
    "ключ 😀": "v4",
    "colon:key": "v5",
    '"}{,': "v6",
    // A key with a lone surrogate is refused (test/store/unicode.test.ts): it would alias another.
    "ctl\u0001key": "v8",
  };
  const expected = JSON.parse(JSON.stringify(d)) as Record<string, unknown>;

  it("through create and get", async () => {
    const rs = open();
    const { token } = await rs.create({ ...base, id: "user1", d });
    const s = await rs.get({ app: "test", token });
    expect(s?.d).toEqual(expected);
    expect(Object.keys(s?.d ?? {})).toEqual(Object.keys(expected));
    expect(Object.is(s?.d?.negzero, 0)).toBe(true);
    expect(await raw.hget(`${rs.options.namespace}:test:${token}`, "d")).toBe(JSON.stringify(d));
  });

  it("through set (the merge inside Redis), also when other keys change later", async () => {
    const rs = open();
    const ns = rs.options.namespace;
    const { token } = await rs.create({ ...base, id: "user1", d: { first: 1 } });
    const p = { app: "test", token };
    expect((await rs.set({ ...p, d }))?.d).toEqual({ first: 1, ...expected });
    // Merging other keys copies the stored text of these byte for byte.
    await rs.set({ ...p, d: { first: null, last: "z" } });
    const after: Record<string, unknown> = { ...expected, last: "z" };
    expect(await raw.hget(`${ns}:test:${token}`, "d")).toBe(JSON.stringify(after));
    // Setting the escaped keys again replaces them in place, never duplicates them.
    const again = { 'key "quoted"': "w1", "key\\back": "w2", "ключ 😀": "w3" };
    await rs.set({ ...p, d: { ...again, "key\nnl": null } });
    const s = await rs.get(p);
    const { "key\nnl": _gone, ...rest } = after;
    expect(s?.d).toEqual({ ...rest, ...again });
    expect(Object.keys(s?.d ?? {})).toEqual(Object.keys(rest));
  });

  it("key order after merges is redis-sessions': kept, appended, deleted", async () => {
    const rs = open();
    const ns = rs.options.namespace;
    const { token } = await rs.create({ ...base, id: "user1", d: { foo: "bar", n: 1, b: true } });
    const p = { app: "test", token };
    // The reference's example (steps 67–68).
    await rs.set({ ...p, d: { foo: null, extra: "x", n: 2.5 } });
    expect(await raw.hget(`${ns}:test:${token}`, "d")).toBe('{"n":2.5,"b":true,"extra":"x"}');
    await rs.set({ ...p, d: { n: null } });
    await rs.set({ ...p, d: { z: 0, n: 3, b: false } });
    expect(await raw.hget(`${ns}:test:${token}`, "d")).toBe('{"b":false,"extra":"x","z":0,"n":3}');
    expect(Object.keys((await rs.get(p))?.d ?? {})).toEqual(["b", "extra", "z", "n"]);
  });

  it("numbers stored by another client keep every digit through a merge", async () => {
    const rs = open();
    const ns = rs.options.namespace;
    const { token } = await rs.create({ ...base, id: "user1", d: { x: 1 } });
    // Also keys escaped differently from JSON.stringify ("k\u00e9" is "ké") are found.
    const stored =
      '{"big":123456789012345678901234567890,"e":1.0E+2,"s":"a\\u00e9","k\\u00e9":1,"x":1}';
    await raw.hset(`${ns}:test:${token}`, "d", stored);
    await rs.set({ app: "test", token, d: { y: 2, s: "b", ké: 2 } });
    expect(await raw.hget(`${ns}:test:${token}`, "d")).toBe(
      '{"big":123456789012345678901234567890,"e":1.0E+2,"s":"b","k\\u00e9":2,"x":1,"y":2}',
    );
  });
});

describe("tokens", () => {
  it("are 64 alphanumerics, unique, and never drawn from Math.random", async () => {
    const rs = open();
    await rs.ping();
    const random = vi.spyOn(Math, "random");
    const tokens = await Promise.all(
      Array.from({ length: 500 }, () => rs.create({ ...base, id: "user1" }).then((r) => r.token)),
    );
    expect(random).not.toHaveBeenCalled();
    expect(new Set(tokens).size).toBe(500);
    for (const t of tokens) expect(t).toMatch(/^[0-9A-Za-z]{64}$/);
  });
});

describe("wipe", () => {
  it("removes every key of every expired session in one run, and nothing of live ones", async () => {
    const clock = fakeClock();
    const namespace = uniqueNamespace();
    const rs = open({ namespace, clock: clock.now });
    const live = await rs.create({ ...base, id: "alive", ttl: 1000, d: { a: 1 } });
    const liveKeys = await dump(namespace);
    for (let i = 0; i < 30; i++) {
      await rs.create({
        ...base,
        app: i % 2 ? "test" : "other",
        id: `u:${i % 7}`,
        ttl: 10,
        d: { i },
        no_resave: i % 3 === 0,
      });
    }
    clock.t += 11;
    expect(await rs.wipe()).toBe(30);
    const after = await dump(namespace);
    // Only the live session's keys remain; their scores are unchanged.
    expect(after).toEqual(liveKeys);
    expect(await rs.get({ app: "test", token: live.token })).not.toBeNull();
  });

  it("does not remove a live session whose SESSIONS score is stale, but repairs the score", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const ns = rs.options.namespace;
    const { token } = await rs.create({ ...base, id: "user1", ttl: 100 });
    clock.t += 30;
    await rs.get({ app: "test", token });
    // Say another client moved la but left the expiry score behind.
    await raw.zadd(`${ns}:SESSIONS`, T0 + 5, `test:${token}:user1`);
    clock.t += 20;
    expect(await rs.wipe()).toBe(0);
    expect(await rs.get({ app: "test", token })).not.toBeNull();
    expect(await raw.zscore(`${ns}:SESSIONS`, `test:${token}:user1`)).toBe(String(T0 + 50 + 100));
  });

  it("does not remove a session at idle == ttl, which get still accepts", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const { token } = await rs.create({ ...base, id: "user1", ttl: 10 });
    clock.t += 10;
    expect(await rs.wipe()).toBe(0);
    expect(await rs.get({ app: "test", token })).not.toBeNull();
  });

  it("with two stores wiping at once, the lease lets only one of them wipe", async () => {
    const clock = fakeClock();
    const namespace = uniqueNamespace();
    const a = open({ namespace, clock: clock.now, wipe: 600 });
    const b = open({ namespace, clock: clock.now, wipe: 600 });
    for (let i = 0; i < 10; i++) await a.create({ ...base, id: `u${i}`, ttl: 10 });
    clock.t += 11;
    const results = await Promise.all([wiperOf(a).run(), wiperOf(b).run()]);
    expect(results.sort((x, y) => x - y)).toEqual([0, 10]);
    const lease = `${namespace}:_wipelock`;
    expect(await raw.pttl(lease)).toBeGreaterThan(500_000);
    // While the lease lasts neither timer-style run wipes again; an explicit wipe() still does.
    await b.create({ ...base, id: "late", ttl: 10 });
    clock.t += 11;
    expect(await Promise.all([wiperOf(a).run(), wiperOf(b).run()])).toEqual([0, 0]);
    expect(await a.wipe()).toBe(1);
    expect(Object.keys(await dump(namespace))).toEqual([lease]);
  });

  it("the timer runs the wipe every `wipe` seconds", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const clock = fakeClock();
    const rs = open({ clock: clock.now, wipe: 10 });
    const ns = rs.options.namespace;
    await rs.create({ ...base, id: "user1", ttl: 10 });
    clock.t += 11;
    vi.advanceTimersByTime(9_999);
    expect(Object.keys(await dump(ns))).toHaveLength(5);
    vi.advanceTimersByTime(1);
    await until(async () => Object.keys(await dump(ns)).length <= 1, {
      ms: 3000,
      what: "the timer's wipe",
    });
    expect(Object.keys(await dump(ns))).toEqual([`${ns}:_wipelock`]);
  });

  it("the wipe timer does not keep a process alive (a child that never quits exits)", async () => {
    const { code, stdout, ms } = await runStoreScript(
      `
      const rs = new RedisSessions({ redis: process.env.REDIS_URL, wipe: 10, namespace: process.env.NS });
      await rs.create({ app: "test", id: "child", ip: "127.0.0.1" });
      console.log("created");
      // no quit(): the wipe interval must not hold the event loop
      rs.redis.disconnect();
    `,
      { REDIS_URL: redisUrl(), NS: uniqueNamespace() },
    );
    expect(stdout).toContain("created");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
  });
});

describe("debris left by redis-sessions 4.0.0 races", () => {
  it("a hash without id is no session, set does not revive it, and wipe removes it all", async () => {
    const clock = fakeClock();
    const rs = open({ clock: clock.now });
    const ns = rs.options.namespace;
    const token = "D".repeat(64);
    // What 4.0.0's get racing its kill wrote: a hash with r and la, and refreshed members.
    await raw.hset(`${ns}:test:${token}`, "r", "1", "la", String(T0));
    await raw.zadd(`${ns}:test:_sessions`, T0, `${token}:user1`);
    await raw.zadd(`${ns}:test:_users`, T0, "user1");
    await raw.zadd(`${ns}:SESSIONS`, T0 + 10, `test:${token}:user1`);
    expect(await rs.get({ app: "test", token })).toBeNull();
    expect(await rs.set({ app: "test", token, d: { a: 1 } })).toBeNull();
    expect(await raw.hgetall(`${ns}:test:${token}`)).toEqual({ r: "1", la: String(T0) });
    expect((await rs.soapp({ app: "test", deltaTime: 60 })).sessions).toEqual([]);
    clock.t += 11;
    expect(await rs.wipe()).toBe(1);
    expect(await dump(ns)).toEqual({});
  });
});
