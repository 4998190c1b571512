/**
 * Account security beside redis-sessions 4.0.0 and the Elixir port (its test double) on one
 * Redis and one namespace (the compat layout): per feature, what the other clients see and what
 * they can change. Our fields (ct, au, ua, ab, cs) are hash fields after v4's; they never HMGET
 * them, and HSET/HMSET keep them; none of them ever touches a key's expiry.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  isRedisSessionsError,
  RedisSessions,
  type StoreOptions,
  sessionHandle,
} from "../../src/index.js";
import { rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { until } from "../helpers/wait.js";
import { ElixirPort } from "./elixir-port.js";
import { closeV4, openV4, type V4Sessions } from "./upstream/v4.js";

const app = "account";
/** v4's session keys, in its order (d only when present). */
const V4_KEYS = ["id", "r", "w", "ttl", "idle", "ip"];

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

/**
 * Our store, v4 and the port in one namespace. With `fake`, one fake clock (seconds) for all
 * three; without, real time (Redis' TIME for ours, Date.now for the others).
 */
function mixed(options: StoreOptions = {}, fake = true) {
  const ns = uniqueNamespace("ac");
  const clock = { now: Math.floor(Date.now() / 1000) };
  const ours = new RedisSessions({
    redis: redisUrl(),
    namespace: ns,
    wipe: 0,
    ...(fake ? { clock: () => clock.now } : {}),
    ...options,
  });
  const v4: V4Sessions = openV4(redisUrl(), ns, fake ? { clock: () => clock.now } : {});
  const ex = new ElixirPort({
    redis: portRedis,
    namespace: ns,
    ...(fake ? { clock: () => clock.now * 1000 } : {}),
  });
  cleanups.push(
    () => ours.quit(),
    () => closeV4(v4),
  );
  const key = (token: string) => `${ns}:${app}:${token}`;
  return { ns, clock, ours, v4, ex, key };
}

describe("account fields beside redis-sessions 4.0.0", () => {
  it("v4 reads our sessions with exactly its own keys, and its set keeps our fields", async () => {
    const { clock, ours, v4, key } = mixed();
    const ua = "Mozilla/5.0 Test";
    const { token } = await ours.create({ app, id: "u1", ip: "10.0.0.1", ua, absolute: 86_400 });
    const fields = await raw.hgetall(key(token));
    expect(Object.keys(fields)).toEqual([
      ...["id", "r", "w", "ip", "la", "ttl"],
      ...["ct", "au", "ua", "ab", "cs"],
    ]);
    clock.now += 5;
    const seen = await v4.get({ app, token });
    expect(Object.keys(seen ?? {})).toEqual(V4_KEYS);
    expect(await v4.set({ app, token, d: { plan: "pro" } })).toMatchObject({ d: { plan: "pro" } });
    expect((await v4.soid({ app, id: "u1" })).sessions.map((s) => Object.keys(s))).toEqual([
      [...V4_KEYS, "d"],
    ]);
    const after = await raw.hgetall(key(token));
    for (const f of ["ct", "au", "ua", "ab", "cs"]) expect(after[f], f).toBe(fields[f]);
    expect(await ours.get({ app, token })).toMatchObject({
      created: Number(fields.ct),
      auth: Number(fields.au),
      expires: Number(fields.ab),
      ua,
      d: { plan: "pro" },
    });
    // v4's kill removes the session with all its fields.
    expect(await v4.kill({ app, token })).toEqual({ kill: 1 });
    expect(await raw.exists(key(token))).toBe(0);
    expect(await ours.get({ app, token })).toBeNull();
  });

  it("v4's sessions get handles and a created time from their token; kill by handle works", async () => {
    const { clock, ours, v4, key } = mixed();
    const { token } = await v4.create({ app, id: "u1", ip: "10.0.0.1" });
    // v4's tokens end in Z and the creation time in base-36 ms (its real clock, not the fake).
    const ms = Number.parseInt(token.slice(56), 36);
    const { sessions } = await ours.soid({ app, id: "u1" });
    expect(sessions).toEqual([
      expect.objectContaining({
        token,
        handle: sessionHandle(token),
        created: Math.floor(ms / 1000),
      }),
    ]);
    const s = await ours.get({ app, token });
    expect(s?.created).toBe(Math.floor(ms / 1000));
    expect(s && "auth" in s).toBe(false);
    // Backfilled, never written.
    expect(await raw.hexists(key(token), "ct")).toBe(0);
    clock.now += 1;
    expect(await ours.kill({ app, id: "u1", handle: sessionHandle(token) })).toEqual({ kill: 1 });
    expect(await v4.get({ app, token })).toBeNull();
  });

  it("csrfToken and reauthenticated on a v4 session write cs and au; v4 still reads it", async () => {
    const { clock, ours, v4, key } = mixed();
    const { token } = await v4.create({ app, id: "u1", ip: "10.0.0.1", d: { a: 1 } });
    const cs = await ours.csrfToken({ app, token });
    expect(cs).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await raw.hget(key(token), "cs")).toBe(cs);
    clock.now += 3;
    expect((await ours.reauthenticated({ app, token }))?.auth).toBe(clock.now);
    const seen = await v4.get({ app, token });
    expect(Object.keys(seen ?? {})).toEqual([...V4_KEYS, "d"]);
    expect(seen).toMatchObject({ id: "u1", d: { a: 1 } });
    await v4.set({ app, token, d: { b: 2 } });
    expect(await ours.csrfToken({ app, token })).toBe(cs);
    expect((await ours.get({ app, token }))?.auth).toBe(clock.now);
  });

  it("our cap counts v4's sessions: it evicts them, or refuses", async () => {
    const evicting = mixed({ maxSessionsPerUser: 2 });
    const old = await evicting.v4.create({ app, id: "u1", ip: "1" });
    evicting.clock.now += 1;
    const recent = await evicting.v4.create({ app, id: "u1", ip: "1" });
    evicting.clock.now += 1;
    const mine = await evicting.ours.create({ app, id: "u1", ip: "1" });
    expect(await evicting.v4.get({ app, token: old.token })).toBeNull();
    expect((await evicting.v4.soid({ app, id: "u1" })).sessions).toHaveLength(2);
    expect(await evicting.v4.get({ app, token: recent.token })).not.toBeNull();
    expect(await evicting.ours.get({ app, token: mine.token })).not.toBeNull();

    const refusing = mixed({ maxSessionsPerUser: 2, onSessionLimit: "refuse" });
    await refusing.v4.create({ app, id: "u1", ip: "1" });
    await refusing.v4.create({ app, id: "u1", ip: "1" });
    const err = await refusing.ours.create({ app, id: "u1", ip: "1" }).catch((e: unknown) => e);
    expect(isRedisSessionsError(err) && err.code).toBe("ERS_SESSION_LIMIT");
    expect((await refusing.v4.soid({ app, id: "u1" })).sessions).toHaveLength(2);
  });

  it("v4 sees a rotation alias as no session, and cannot change it", async () => {
    const { ours, v4, key } = mixed();
    const { token } = await ours.create({ app, id: "u1", ip: "1", d: { a: 1 } });
    const next = (await ours.rotate({ app, token, grace: 60 }))?.token ?? "";
    const alias = await raw.hgetall(key(token));
    expect(await v4.get({ app, token })).toBeNull();
    expect(await v4.set({ app, token, d: { b: 2 } })).toBeNull();
    expect(await v4.kill({ app, token })).toEqual({ kill: 0 });
    expect(await raw.hgetall(key(token))).toEqual(alias);
    expect((await v4.soid({ app, id: "u1" })).sessions).toHaveLength(1);
    expect(await v4.get({ app, token: next })).toMatchObject({ id: "u1", d: { a: 1 } });
    // Ours still resolves it for the grace.
    expect((await ours.get({ app, token }))?.d).toEqual({ a: 1 });
  });
});

describe("the absolute end binds redis-sessions 4.0.0 and the Elixir port", () => {
  it("their touches before the end never move it, and after it they see no session", async () => {
    // Real time: the end is a Redis expiry, which runs on Redis' clock.
    const { ours, v4, ex, key } = mixed({}, false);
    const forV4 = await ours.create({ app, id: "u1", ip: "1", absolute: 10 });
    // (The port's set crashes on a session without d, a quirk of its own: give it one.)
    const forPort = await ours.create({ app, id: "u2", ip: "1", absolute: 10, d: { n: 0 } });
    const end = (await ours.get({ app, token: forV4.token }))?.expires ?? 0;
    const expiry = (token: string) => raw.call("PEXPIRETIME", key(token));
    expect(Number(await expiry(forV4.token))).toBe(end * 1000);
    // Both keep their session busy until it is gone; their writes never move its expiry.
    let v4Reads = 0;
    let portReads = 0;
    await until(
      async () => {
        const a = await v4.get({ app, token: forV4.token });
        if (a) {
          v4Reads++;
          await v4.set({ app, token: forV4.token, d: { n: v4Reads } });
        }
        const b = await ex.get({ app, token: forPort.token });
        if (b) {
          portReads++;
          await ex.set({ app, token: forPort.token, d: { n: portReads } });
        }
        for (const token of [forV4.token, forPort.token]) {
          const at = Number(await expiry(token));
          if (at !== -2) expect(at).toBe(end * 1000);
        }
        return !a && !b;
      },
      { ms: 15_000, every: 250, what: "the absolute end" },
    );
    expect(Date.now()).toBeGreaterThanOrEqual(end * 1000);
    expect(v4Reads).toBeGreaterThan(5);
    expect(portReads).toBeGreaterThan(5);
    for (const token of [forV4.token, forPort.token]) {
      expect(await raw.exists(key(token))).toBe(0);
      expect(await v4.set({ app, token, d: { late: true } })).toBeNull();
      expect(await ex.get({ app, token })).toBeNull();
      expect(await ours.get({ app, token })).toBeNull();
    }
  }, 30_000);

  it("the port's set keeps our fields (its HMSET/HSET never drop others)", async () => {
    const { clock, ours, ex, key } = mixed();
    const { token } = await ours.create({
      ...{ app, id: "u1", ip: "1", ua: "UA", absolute: 600 },
      d: { n: 0 },
    });
    const before = await raw.hgetall(key(token));
    clock.now += 2;
    expect(await ex.set({ app, token, d: { x: 1 } })).toMatchObject({ d: { x: 1 } });
    const after = await raw.hgetall(key(token));
    for (const f of ["ct", "au", "ua", "ab", "cs"]) expect(after[f], f).toBe(before[f]);
    expect(await ours.get({ app, token })).toMatchObject({ ua: "UA", d: { x: 1 } });
  });
});
