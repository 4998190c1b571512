import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rawClient } from "../helpers/context.js";
import { fakeClock, storePool, T0 } from "../helpers/stores.js";

/*
 * Absolute timeouts: a session ends `absolute` seconds after create whatever its activity, on the
 * store's clock and by a Redis expiry on its hash (which binds every client), on both layouts.
 */

const app = "absol";
let raw: Redis;
const stores = storePool();

beforeAll(() => {
  raw = rawClient();
});
afterEach(() => stores.quitAll());
afterAll(() => raw.quit());

describe.each(["compat", "cluster"] as const)("layout %s: absolute timeout", (layout) => {
  function open(extra = {}) {
    const clock = fakeClock();
    const rs = stores.open({ clock: clock.now, layout, ...extra });
    return { rs, clock };
  }

  it("ends the session at create + absolute however active it is", async () => {
    const { rs, clock } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1", ttl: 60, absolute: 100 });
    for (let t = 0; t < 99; t += 30) {
      clock.t = T0 + t;
      expect((await rs.get({ app, token }))?.expires).toBe(T0 + 100);
    }
    clock.t = T0 + 99;
    expect(await rs.set({ app, token, d: { a: 1 } })).toMatchObject({ expires: T0 + 100 });
    clock.t = T0 + 100;
    expect(await rs.get({ app, token })).toBeNull();
    expect(await rs.set({ app, token, d: { a: 2 } })).toBeNull();
    expect(await rs.reauthenticated({ app, token })).toBeNull();
    expect(await rs.csrfToken({ app, token })).toBeNull();
    expect(await rs.rotate({ app, token })).toBeNull();
    expect((await rs.soid({ app, id: "u1" })).sessions).toEqual([]);
    expect((await rs.soapp({ app, deltaTime: 600 })).sessions).toEqual([]);
    expect(await rs.kill({ app, token })).toEqual({ kill: 0 });
  });

  it("the idle ttl still ends it first when it comes first", async () => {
    const { rs, clock } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1", ttl: 10, absolute: 100 });
    clock.t += 11;
    expect(await rs.get({ app, token })).toBeNull();
  });

  it("puts a Redis expiry on the hash that activity never moves past the end", async () => {
    const { rs, clock } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1", ttl: 3600, absolute: 100 });
    const key = rs.keys.session(app, token);
    const first = await raw.pttl(key);
    expect(first).toBeGreaterThan(90_000);
    expect(first).toBeLessThanOrEqual(100_000);
    clock.t += 50;
    await rs.get({ app, token });
    await rs.set({ app, token, d: { a: 1 } });
    // The fake clock moved 50 s: the expiry is at most the 50 s left, never the 3600 s of ttl.
    expect(await raw.pttl(key)).toBeLessThanOrEqual(first);
  });

  it("on Redis' own clock, the expiry is exactly the absolute end (PEXPIREAT)", async () => {
    const rs = stores.open({ layout });
    const { token } = await rs.create({ app, id: "u1", ip: "1", absolute: 3600 });
    const s = await rs.get({ app, token });
    expect(s?.expires).toBeGreaterThan(Date.now() / 1000 + 3500);
    const at = Number(await raw.call("PEXPIRETIME", rs.keys.session(app, token)));
    expect(at).toBe((s?.expires ?? 0) * 1000);
  });

  it("rotate keeps the absolute end and its Redis expiry", async () => {
    const { rs, clock } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1", absolute: 100 });
    clock.t += 40;
    const next = (await rs.rotate({ app, token }))?.token ?? "";
    expect((await rs.get({ app, token: next }))?.expires).toBe(T0 + 100);
    const pttl = await raw.pttl(rs.keys.session(app, next));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
    clock.t = T0 + 100;
    expect(await rs.get({ app, token: next })).toBeNull();
  });

  it("the wipe removes the index entries once the absolute end passed", async () => {
    const { rs, clock } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1", ttl: 3600, absolute: 50 });
    const other = await rs.create({ app, id: "u2", ip: "1", ttl: 3600 });
    clock.t += 51;
    expect(await rs.countSessions({ app, deltaTime: 600 })).toEqual({ count: 2 });
    expect(await rs.wipe()).toBe(1);
    expect(await rs.countSessions({ app, deltaTime: 600 })).toEqual({ count: 1 });
    expect(await rs.get({ app, token })).toBeNull();
    expect(await rs.get({ app, token: other.token })).not.toBeNull();
  });
});
