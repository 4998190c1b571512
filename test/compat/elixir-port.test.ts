/**
 * The Elixir-port double (./elixir-port.ts) is faithful to ex-redis-sessions 0.3.0 as read in
 * its source and in /work/shared/reference/elixir-port.md: raw keys, fields and score formats
 * after each operation (namespace dumps), and the exact command stream of one session's life
 * (MONITOR, filtered to the double's own connection). No dependency on src/.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpNamespace, rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { openMonitor } from "../helpers/monitor.js";
import { until } from "../helpers/wait.js";
import { ElixirPort, ElixirPortCrash, ElixirPortRejection } from "./elixir-port.js";

/** A unix-ms instant (2026-12-08): the reference's example, 13 digits like any date until 2286. */
const T0 = 1_796_620_208_529;
const T0_S = Math.floor(T0 / 1000);
const app = "exapp";
const ip = "10.0.0.1";

let raw: Redis;
let portRedis: Redis;

beforeAll(() => {
  raw = rawClient();
  portRedis = rawClient();
});

afterAll(async () => {
  await Promise.all([raw.quit(), portRedis.quit()]);
});

type Dump = Record<string, unknown>;

/** A fresh namespace, a settable clock (unix ms) and a double on them. */
function setup() {
  const ns = uniqueNamespace("ex");
  const clock = { now: T0 };
  const port = new ElixirPort({ redis: portRedis, namespace: ns, clock: () => clock.now });
  const k = (rest: string) => `${ns}:${app}:${rest}`;
  const dump = () => dumpNamespace(raw, ns);
  return { ns, clock, port, k, dump, sessions: `${ns}:SESSIONS` };
}

function hashOf(dump: Dump, key: string): Record<string, string> {
  const entry = dump[key] as { hash?: Record<string, string> } | undefined;
  if (!entry?.hash) throw new Error(`no hash at ${key}: ${JSON.stringify(entry)}`);
  return entry.hash;
}

/** A zset as [member, score] pairs, in the dump's (score) order. */
function zsetOf(dump: Dump, key: string): [string, string][] {
  const entry = dump[key] as { zset?: string[] } | undefined;
  if (!entry?.zset) throw new Error(`no zset at ${key}: ${JSON.stringify(entry)}`);
  const pairs: [string, string][] = [];
  for (let i = 0; i < entry.zset.length; i += 2) {
    pairs.push([entry.zset[i] ?? "", entry.zset[i + 1] ?? ""]);
  }
  return pairs;
}

/** The double-precision value Redis keeps for a ZADD score given as `text`. */
const asStored = (text: string) => Number(text);

/** A 64-character token of the redis-sessions token rule, for sessions written raw. */
const rawToken = (c: string) => `${c}`.repeat(64).slice(0, 64);

/**
 * A session as redis-sessions v4 (or this package) writes it: seconds scores, `now + ttl` in
 * SESSIONS. Written raw, in one MULTI, as they do.
 */
async function writeV4Session(
  ns: string,
  token: string,
  id: string,
  { nowS, ttl = 7200 }: { nowS: number; ttl?: number | string },
): Promise<void> {
  await raw
    .multi()
    .zadd(`${ns}:${app}:_sessions`, nowS, `${token}:${id}`)
    .zadd(`${ns}:${app}:_users`, nowS, id)
    .zadd(`${ns}:SESSIONS`, nowS + Number(ttl), `${app}:${token}:${id}`)
    .sadd(`${ns}:${app}:us:${id}`, token)
    .hset(`${ns}:${app}:${token}`, "id", id, "r", 1, "w", 1, "ip", ip, "la", nowS, "ttl", ttl)
    .exec();
}

describe("create", () => {
  it("writes the reference's keys, HMSET field order, ms scores, la in s, concatenated expiry", async () => {
    const { port, k, dump, sessions } = setup();
    const { token } = await port.create({
      app,
      id: "u1",
      ip,
      d: { b: 1, a: "x", gone: null, z: 2.5 },
    });
    expect(token).toHaveLength(64);
    expect(token).toMatch(/^[A-Wa-w0-9]{55}Z[0-9a-z]{8}$/);
    expect(token.slice(56)).toBe(T0.toString(36));

    const d = await dump();
    expect(Object.keys(d).sort()).toEqual(
      [k(token), k("_sessions"), k("_users"), k("us:u1"), sessions].sort(),
    );
    const hash = hashOf(d, k(token));
    // HGETALL of a small (listpack) hash lists fields in insertion order: HMSET's order.
    expect(Object.keys(hash)).toEqual(["id", "r", "w", "ip", "la", "ttl", "d"]);
    expect(hash).toEqual({
      id: "u1",
      r: "1",
      w: "1",
      ip,
      la: String(T0_S),
      ttl: "3600",
      // Poison: nulls dropped, keys in descending order.
      d: '{"z":2.5,"b":1,"a":"x"}',
    });
    expect(zsetOf(d, k("_sessions"))).toEqual([[`${token}:u1`, String(T0)]]);
    expect(zsetOf(d, k("_users"))).toEqual([["u1", String(T0)]]);
    const [[member, score] = ["", ""]] = zsetOf(d, sessions);
    expect(member).toBe(`${app}:${token}:u1`);
    expect(score).toBe(`${T0}3600`);
    expect(Number(score)).not.toBe(T0 + 3600 * 1000);
    expect(d[k("us:u1")]).toEqual({ set: [token] });
  });

  it("writes no d for none or all-null, the ttl given, and a rounded score for odd ttls", async () => {
    const { port, k, dump, sessions } = setup();
    const a = await port.create({ app, id: "u1", ip });
    const b = await port.create({ app, id: "u2", ip, ttl: 3601, d: { x: null } });
    const d = await dump();
    expect(Object.keys(hashOf(d, k(a.token)))).toEqual(["id", "r", "w", "ip", "la", "ttl"]);
    expect(hashOf(d, k(a.token)).ttl).toBe("3600");
    expect(Object.keys(hashOf(d, k(b.token)))).toEqual(["id", "r", "w", "ip", "la", "ttl"]);
    expect(hashOf(d, k(b.token)).ttl).toBe("3601");
    const scores = Object.fromEntries(zsetOf(d, sessions));
    expect(scores[`${app}:${a.token}:u1`]).toBe(`${T0}3600`);
    // 17 digits exceed 2^53: Redis keeps the nearest double, not the text.
    const odd = scores[`${app}:${b.token}:u2`];
    expect(Number(odd)).toBe(asStored(`${T0}3601`));
    expect(odd).not.toBe(`${T0}3601`);
  });

  it("rejects what Vex rejects and sends nothing", async () => {
    const { port, dump } = setup();
    await expect(port.create({ app, id: "a@b.c", ip })).rejects.toMatchObject({
      errors: [["id", "invalidFormat", "Invalid id format"]],
    });
    await expect(port.create({ app, id: "u1", ip, ttl: 10 })).rejects.toBeInstanceOf(
      ElixirPortRejection,
    );
    await expect(port.create({ app, id: "u1", ip, ttl: 11 })).resolves.toHaveProperty("token");
    expect(Object.keys(await dump())).toHaveLength(5);
  });
});

describe("get", () => {
  it("counts r (reported after the increment) and touches nothing else", async () => {
    const { port, clock, k, dump } = setup();
    const { token } = await port.create({ app, id: "u1", ip, d: { a: "x" } });
    const before = await dump();
    clock.now = T0 + 5_400;
    expect(await port.get({ app, token })).toEqual({
      id: "u1",
      r: 2,
      w: 1,
      ttl: 3600,
      idle: 5,
      ip,
      d: { a: "x" },
    });
    const after = await dump();
    expect(after).toEqual({
      ...before,
      [k(token)]: { hash: { ...hashOf(before, k(token)), r: "2" } },
    });
  });

  it("is alive at idle == ttl, null after, and then writes nothing", async () => {
    const { port, clock, dump } = setup();
    const { token } = await port.create({ app, id: "u1", ip, ttl: 60 });
    clock.now = T0 + 60_000;
    expect(await port.get({ app, token })).toMatchObject({ idle: 60, r: 2 });
    const before = await dump();
    clock.now = T0 + 61_000;
    expect(await port.get({ app, token })).toBeNull();
    expect(await dump()).toEqual(before);
  });

  it("crashes on a ttl redis-sessions v4 stored verbatim as a non-integer", async () => {
    const { ns, port } = setup();
    const token = rawToken("F");
    await writeV4Session(ns, token, "u1", { nowS: T0_S, ttl: "100.7" });
    await expect(port.get({ app, token })).rejects.toMatchObject({ reason: "badarg" });
  });
});

describe("set", () => {
  it("merges d (null deletes), always writes la, counts w, re-scores in ms", async () => {
    const { port, clock, k, dump, sessions } = setup();
    const { token } = await port.create({ app, id: "u1", ip, d: { b: 1, a: "x", z: 2.5 } });
    clock.now = T0 + 7_250;
    const now = clock.now;
    expect(await port.set({ app, token, d: { a: null, n: 3, b: 2 } })).toEqual({
      id: "u1",
      r: 1,
      w: 2,
      ttl: 3600,
      idle: 7,
      ip,
      d: { z: 2.5, b: 2, n: 3 },
    });
    const d = await dump();
    expect(hashOf(d, k(token))).toEqual({
      id: "u1",
      r: "1",
      w: "2",
      ip,
      la: String(Math.floor(now / 1000)),
      ttl: "3600",
      d: '{"z":2.5,"n":3,"b":2}',
    });
    expect(zsetOf(d, k("_sessions"))).toEqual([[`${token}:u1`, String(now)]]);
    expect(zsetOf(d, k("_users"))).toEqual([["u1", String(now)]]);
    expect(zsetOf(d, sessions)).toEqual([[`${app}:${token}:u1`, `${now}3600`]]);
  });

  it("re-orders a d written in insertion order, and HDELs d when emptied or given null", async () => {
    const { ns, port, k, dump } = setup();
    const token = rawToken("D");
    await writeV4Session(ns, token, "u1", { nowS: T0_S });
    await raw.hset(k(token), "d", '{"b":1,"c":"x","a":true}');
    await port.set({ app, token, d: { b: 2 } });
    expect(hashOf(await dump(), k(token)).d).toBe('{"c":"x","b":2,"a":true}');
    expect(await port.set({ app, token, d: { a: null, b: null, c: null } })).toMatchObject({
      d: null,
      w: 3,
    });
    expect(hashOf(await dump(), k(token))).not.toHaveProperty("d");
    const second = await port.create({ app, id: "u2", ip, d: { k: "v" } });
    expect(await port.set({ app, token: second.token, d: null })).toMatchObject({ d: null });
    expect(hashOf(await dump(), k(second.token))).not.toHaveProperty("d");
  });

  it("crashes (badmap) on a session without d, having sent only the HMGET", async () => {
    const { port, dump } = setup();
    const { token } = await port.create({ app, id: "u1", ip });
    const before = await dump();
    const error = await port.set({ app, token, d: { a: 1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ElixirPortCrash);
    expect(error).toMatchObject({ reason: "badmap" });
    expect(await dump()).toEqual(before);
  });

  it("returns null for a missing or expired session and writes nothing", async () => {
    const { port, clock, dump } = setup();
    const { token } = await port.create({ app, id: "u1", ip, ttl: 60, d: { a: 1 } });
    clock.now = T0 + 61_000;
    const before = await dump();
    expect(await port.set({ app, token, d: { a: 2 } })).toBeNull();
    expect(await port.set({ app, token: rawToken("N"), d: { a: 2 } })).toBeNull();
    expect(await dump()).toEqual(before);
  });
});

describe("kill, killsoid, killall", () => {
  it("kill removes one session and the id from _users even when it has others", async () => {
    const { port, k, dump, sessions } = setup();
    const one = await port.create({ app, id: "u1", ip });
    const two = await port.create({ app, id: "u1", ip });
    const other = await port.create({ app, id: "u2", ip });
    expect(await port.kill({ app, token: one.token })).toEqual({ kill: 1 });
    const d = await dump();
    expect(d[k(one.token)]).toBeUndefined();
    expect(hashOf(d, k(two.token)).id).toBe("u1");
    expect(d[k("us:u1")]).toEqual({ set: [two.token] });
    expect(
      zsetOf(d, k("_sessions"))
        .map(([m]) => m)
        .sort(),
    ).toEqual([`${two.token}:u1`, `${other.token}:u2`].sort());
    expect(zsetOf(d, k("_users"))).toEqual([["u2", String(T0)]]);
    expect(
      zsetOf(d, sessions)
        .map(([m]) => m)
        .sort(),
    ).toEqual([`${app}:${two.token}:u1`, `${app}:${other.token}:u2`].sort());
  });

  it("kill of an unknown or expired token returns null and leaves the keys", async () => {
    const { port, clock, dump } = setup();
    const { token } = await port.create({ app, id: "u1", ip, ttl: 60 });
    clock.now = T0 + 61_000;
    const before = await dump();
    expect(await port.kill({ app, token })).toBeNull();
    expect(await port.kill({ app, token: rawToken("Q") })).toBeNull();
    expect(await dump()).toEqual(before);
  });

  it("killsoid kills every session of the id, expired ones too", async () => {
    const { port, clock, k, dump, sessions } = setup();
    await port.create({ app, id: "u1", ip, ttl: 60 });
    clock.now = T0 + 61_000;
    await port.create({ app, id: "u1", ip });
    const other = await port.create({ app, id: "u2", ip });
    expect(await port.killsoid({ app, id: "u1" })).toEqual({ kill: 2 });
    expect(await port.killsoid({ app, id: "u1" })).toEqual({ kill: 0 });
    const d = await dump();
    expect(Object.keys(d).sort()).toEqual(
      [k(other.token), k("_sessions"), k("_users"), k("us:u2"), sessions].sort(),
    );
    expect(zsetOf(d, k("_users"))).toEqual([["u2", String(T0 + 61_000)]]);
  });

  it("killall empties one app in bulk and leaves the others", async () => {
    const { ns, port, k, dump, sessions } = setup();
    await port.create({ app, id: "u1", ip });
    await port.create({ app, id: "u1", ip });
    await port.create({ app, id: "u2", ip });
    const kept = await port.create({ app: "other", id: "u1", ip });
    expect(await port.killall({ app })).toEqual({ kill: 3 });
    expect(await port.killall({ app })).toEqual({ kill: 0 });
    const d = await dump();
    expect(Object.keys(d).sort()).toEqual(
      [
        `${ns}:other:${kept.token}`,
        `${ns}:other:_sessions`,
        `${ns}:other:_users`,
        `${ns}:other:us:u1`,
        sessions,
      ].sort(),
    );
    expect(zsetOf(d, sessions).map(([m]) => m)).toEqual([`other:${kept.token}:u1`]);
    expect(d[k("_users")]).toBeUndefined();
  });

  it("killall crashes on an id with ':' after only reading, deleting nothing", async () => {
    const { ns, port, dump } = setup();
    await port.create({ app, id: "u1", ip });
    await writeV4Session(ns, rawToken("C"), "mail:a@b.c", { nowS: T0_S });
    const before = await dump();
    await expect(port.killall({ app })).rejects.toMatchObject({ reason: "badmatch" });
    expect(await dump()).toEqual(before);
  });
});

describe("activity and soapp", () => {
  it("activity's window is dt milliseconds, inclusive, and never counts seconds scores", async () => {
    const { port, clock, k } = setup();
    await port.create({ app, id: "u1", ip });
    await raw.zadd(k("_users"), T0_S, "v4user");
    clock.now = T0 + 600;
    expect(await port.activity({ app, dt: 600 })).toEqual({ activity: 1 });
    clock.now = T0 + 601;
    expect(await port.activity({ app, dt: 600 })).toEqual({ activity: 0 });
    expect(await port.activity({ app, dt: 1_000_000 })).toEqual({ activity: 1 });
  });

  it("soapp: ms window, most recent first, no token, null for a missing hash", async () => {
    const { ns, port, clock, k } = setup();
    const first = await port.create({ app, id: "u1", ip });
    clock.now = T0 + 300;
    await port.create({ app, id: "u2", ip, d: { a: 1 } });
    await writeV4Session(ns, rawToken("S"), "v4user", { nowS: T0_S });
    clock.now = T0 + 700;
    // T0 + 700 ms is already the next second after u2's la.
    const u2 = { id: "u2", r: 1, w: 1, ttl: 3600, idle: 1, ip, d: { a: 1 } };
    expect(await port.soapp({ app, dt: 600 })).toEqual({ sessions: [u2] });
    await raw.del(k(first.token));
    expect(await port.soapp({ app, dt: 700 })).toEqual({ sessions: [u2, null] });
  });

  it("soid lists the id's sessions with null for a missing one", async () => {
    const { port, k } = setup();
    const gone = await port.create({ app, id: "u1", ip });
    await port.create({ app, id: "u1", ip: "10.0.0.2" });
    await raw.del(k(gone.token));
    const { sessions } = await port.soid({ app, id: "u1" });
    expect(sessions).toHaveLength(2);
    expect(sessions).toContainEqual(null);
    expect(sessions).toContainEqual({
      id: "u1",
      r: 1,
      w: 1,
      ttl: 3600,
      idle: 0,
      ip: "10.0.0.2",
      d: null,
    });
  });
});

describe("wipe", () => {
  it("kills every seconds-scored session, live or not, and never its own expired ones", async () => {
    const { ns, port, clock, k, dump, sessions } = setup();
    const own = await port.create({ app, id: "u1", ip, ttl: 60 });
    const v4 = rawToken("W");
    await writeV4Session(ns, v4, "v4user", { nowS: T0_S + 86_400 * 365, ttl: 7200 });
    clock.now = T0 + 86_400_000;
    expect(await port.get({ app, token: own.token })).toBeNull();
    await port.wipe();
    const d = await dump();
    expect(Object.keys(d).sort()).toEqual(
      [k(own.token), k("_sessions"), k("_users"), k("us:u1"), sessions].sort(),
    );
    expect(zsetOf(d, sessions)).toEqual([[`${app}:${own.token}:u1`, `${T0}60`]]);
    expect(zsetOf(d, k("_users"))).toEqual([["u1", String(T0)]]);
  });

  it("stops at the first member with a ':' in its id: earlier ones wiped, later ones kept", async () => {
    const { ns, port, dump, sessions } = setup();
    await writeV4Session(ns, rawToken("A"), "a", { nowS: 100, ttl: 10 });
    await writeV4Session(ns, rawToken("B"), "x:y", { nowS: 200, ttl: 10 });
    await writeV4Session(ns, rawToken("C"), "c", { nowS: 300, ttl: 10 });
    await expect(port.wipe()).rejects.toMatchObject({ reason: "badmatch" });
    expect(zsetOf(await dump(), sessions)).toEqual([
      [`${app}:${rawToken("B")}:x:y`, "210"],
      [`${app}:${rawToken("C")}:c`, "310"],
    ]);
  });
});

describe("command stream (MONITOR)", () => {
  it("create, get, set, kill send exactly the port's commands, pipelined without MULTI", async () => {
    const { port, clock, k, sessions } = setup();
    await portRedis.ping();
    const info = String(await portRedis.call("CLIENT", "INFO"));
    const addr = /addr=(\S+)/.exec(info)?.[1];
    expect(addr).toBeDefined();
    const url = new URL(redisUrl());
    const monitor = await openMonitor(url.hostname, Number(url.port || 6379));
    const sentinel = `done-${k("")}`;
    const ours = () => monitor.lines.filter((l) => l.source === addr).map((l) => l.args);
    const ended = (args: string[]) => args[0] === "ECHO" && args[1] === sentinel;
    try {
      const { token } = await port.create({ app, id: "u1", ip, d: { k: "a" } });
      clock.now = T0 + 400; // same second: set still writes la
      await port.set({ app, token, d: { k: "v" } });
      clock.now = T0 + 1_000;
      await port.get({ app, token });
      await port.kill({ app, token });
      await portRedis.call("ECHO", sentinel);
      await until(() => ours().some(ended), { what: "the sentinel ECHO in MONITOR" });
      const seen = ours().filter((args) => !ended(args));
      const h = k(token);
      const hmget = ["HMGET", h, "id", "r", "w", "ttl", "d", "la", "ip"];
      const zadds = (now: number) => [
        ["ZADD", k("_sessions"), String(now), `${token}:u1`],
        ["ZADD", k("_users"), String(now), "u1"],
        ["ZADD", sessions, `${now}3600`, `${app}:${token}:u1`],
      ];
      expect(seen).toEqual([
        ...zadds(T0),
        ["SADD", k("us:u1"), token],
        [
          "HMSET",
          h,
          "id",
          "u1",
          "r",
          "1",
          "w",
          "1",
          "ip",
          ip,
          "la",
          `${T0_S}`,
          "ttl",
          "3600",
          "d",
          '{"k":"a"}',
        ],
        hmget,
        ...zadds(T0 + 400),
        ["HINCRBY", h, "w", "1"],
        ["HSET", h, "la", `${T0_S}`],
        ["HSET", h, "d", '{"k":"v"}'],
        hmget,
        ["hincrby", h, "r", "1"],
        hmget,
        ["ZREM", k("_sessions"), `${token}:u1`],
        ["SREM", k("us:u1"), token],
        ["ZREM", sessions, `${app}:${token}:u1`],
        ["DEL", h],
        ["EXISTS", k("us:u1")],
        ["ZREM", k("_users"), "u1"],
      ]);
    } finally {
      monitor.close();
    }
  });
});
