import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RedisSessions } from "../../src/index.js";
import { rawClient, uniqueNamespace } from "../helpers/context.js";
import { fakeClock, storePool, T0 } from "../helpers/stores.js";
import { until } from "../helpers/wait.js";

/*
 * rotate({ grace }): the old token stays an alias of the new session for at most `grace`
 * seconds, then is dead everywhere, caches included; on both layouts.
 */

const app = "rotate";
let raw: Redis;
const stores = storePool();

beforeAll(() => {
  raw = rawClient();
});
afterEach(() => stores.quitAll());
afterAll(() => raw.quit());

describe.each(["compat", "cluster"] as const)("layout %s: rotation with grace", (layout) => {
  function open(extra = {}) {
    const clock = fakeClock();
    const rs = stores.open({ clock: clock.now, layout, ...extra });
    return { rs, clock };
  }

  it("the old token acts on the new session until the grace ends", async () => {
    const { rs, clock } = open();
    const ua = "Agent/1";
    const { token } = await rs.create({ app, id: "u1", ip: "1", ua, absolute: 3600, d: { a: 1 } });
    const cs = await rs.csrfToken({ app, token });
    const next = (await rs.rotate({ app, token, grace: 30 }))?.token ?? "";
    expect(next).toMatch(/^[0-9A-Za-z]{64}$/);
    // The new session keeps every field; the old key is an alias with no id.
    const moved = await rs.get({ app, token: next });
    expect(moved).toMatchObject({ id: "u1", d: { a: 1 }, ua, created: T0, expires: T0 + 3600 });
    expect(await rs.csrfToken({ app, token: next })).toBe(cs);
    const alias = await raw.hgetall(rs.keys.session(app, token));
    expect(alias).toEqual({ rt: next, re: String(T0 + 30) });
    const pttl = await raw.pttl(rs.keys.session(app, token));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(30_000);
    clock.t += 10;
    expect(await rs.get({ app, token })).toMatchObject({ id: "u1", d: { a: 1 } });
    expect(await rs.set({ app, token, d: { b: 2 } })).toMatchObject({ d: { a: 1, b: 2 } });
    expect((await rs.get({ app, token: next }))?.d).toEqual({ a: 1, b: 2 });
    expect((await rs.reauthenticated({ app, token }))?.auth).toBe(T0 + 10);
    expect(await rs.csrfToken({ app, token })).toBe(cs);
    // Only the new token is listed.
    expect((await rs.soid({ app, id: "u1" })).sessions.map((s) => s.token)).toEqual([next]);
    clock.t = T0 + 30;
    expect(await rs.get({ app, token })).toBeNull();
    expect(await rs.set({ app, token, d: { c: 3 } })).toBeNull();
    expect(await rs.get({ app, token: next })).not.toBeNull();
  });

  it("without a grace the old token is dead at once, and no alias is written", async () => {
    const { rs } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    const next = (await rs.rotate({ app, token }))?.token ?? "";
    expect(await rs.get({ app, token })).toBeNull();
    expect(await raw.exists(rs.keys.session(app, token))).toBe(0);
    expect(await rs.get({ app, token: next })).not.toBeNull();
  });

  it("kill through the alias ends the session and the alias", async () => {
    const { rs } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    const next = (await rs.rotate({ app, token, grace: 60 }))?.token ?? "";
    expect(await rs.kill({ app, token })).toEqual({ kill: 1 });
    expect(await rs.get({ app, token: next })).toBeNull();
    expect(await rs.get({ app, token })).toBeNull();
    expect(await raw.exists(rs.keys.session(app, token))).toBe(0);
  });

  it("an old token cannot rotate: its holder must not move the session to a token of their own", async () => {
    const { rs } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    const second = (await rs.rotate({ app, token, grace: 60 }))?.token ?? "";
    expect(await rs.rotate({ app, token, grace: 60 })).toBeNull();
    expect((await rs.get({ app, token: second }))?.id).toBe("u1");
    expect((await rs.get({ app, token }))?.id).toBe("u1");
    expect((await rs.soid({ app, id: "u1" })).sessions.map((s) => s.token)).toEqual([second]);
  });

  it("requests through the old token during a rotation keep working", async () => {
    const { rs } = open();
    const { token } = await rs.create({ app, id: "u1", ip: "1", d: { n: 1 } });
    const reads = Array.from({ length: 40 }, () => rs.get({ app, token }));
    const rotated = rs.rotate({ app, token, grace: 5 });
    const more = Array.from({ length: 40 }, () => rs.get({ app, token }));
    const all = await Promise.all([...reads, ...more]);
    expect(all.every((s) => s?.id === "u1" && s.d?.n === 1)).toBe(true);
    expect((await rotated)?.token).toBeDefined();
  });

  it("after the grace the old token is dead in every process, one with a cache too", async () => {
    const clock = fakeClock();
    const namespace = uniqueNamespace();
    const rs = stores.open({ namespace, clock: clock.now, layout });
    const cached = stores.open({ namespace, clock: clock.now, layout, cachetime: 600 });
    await until(() => cached.cacheStats().active, { what: "the cache to subscribe" });
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    expect((await cached.get({ app, token }))?.id).toBe("u1");
    expect((await cached.get({ app, token }))?.id).toBe("u1");
    expect(cached.cacheStats().hits).toBe(1);
    const next = (await rs.rotate({ app, token, grace: 20 }))?.token ?? "";
    // The rotation told every cache about the old token; reads through the alias are not cached.
    await until(() => cached.cacheStats().size === 0, { what: "the cache to drop the old token" });
    const reads = async (store: RedisSessions) => (await store.get({ app, token }))?.id ?? null;
    expect(await reads(cached)).toBe("u1");
    expect(await reads(cached)).toBe("u1");
    expect(cached.cacheStats().size).toBe(0);
    clock.t += 20;
    expect(await reads(cached)).toBeNull();
    expect(await reads(rs)).toBeNull();
    expect((await cached.get({ app, token: next }))?.id).toBe("u1");
  });
});
