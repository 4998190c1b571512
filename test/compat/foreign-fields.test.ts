import type { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRedisSessionsError, redisSessions, type Session } from "../../src/index.js";
import { buildApp, cookiesNamed, setCookieLines } from "../helpers/apps.js";
import { dumpNamespace, rawClient, redisUrl } from "../helpers/context.js";
import { storePool } from "../helpers/stores.js";
import { closeV4, openV4 } from "./upstream/v4.js";

/*
 * Hash fields that other clients wrote are read defensively: whatever redis-sessions 4 (which
 * validates ttl with parseInt but stores what it was given), an operator's HSET or a buggy port
 * left in `ttl`, `la`, `r` or `w`, a read, a write and the cookie that follows them never fail,
 * and what they return is well formed: whole numbers, `ttl` and `idle` >= 0, a Max-Age that is a
 * non-negative integer. And a ttl too large for the cookie's Expires is refused before any write.
 */

const app = "foreign";
const HOSTS = ["express5", "express4"] as const;
// A refresh window of the default ttl is 720 s: 100 s into one, so a read 400 s later rolls.
const T = 720 * 2_400_000 + 100;
const stores = storePool();
let raw: Redis;

beforeAll(() => {
  raw = rawClient();
});

afterAll(async () => {
  await stores.quitAll();
  raw.disconnect();
});

function wellFormed(s: Session<unknown>): void {
  for (const field of ["r", "w", "ttl", "idle"] as const) {
    expect(Number.isSafeInteger(s[field]), `${field} = ${s[field]}`).toBe(true);
    expect(s[field], field).toBeGreaterThanOrEqual(0);
  }
  if (!s.no_resave) expect(s.idle).toBeLessThanOrEqual(s.ttl);
}

/** Every Set-Cookie line of the response carries an integer Max-Age >= 0 and a valid Expires. */
function cookiesWellFormed(headers: Record<string, string | string[] | undefined>): void {
  for (const line of setCookieLines(headers)) {
    expect(line).toMatch(/; Max-Age=\d+;/);
    const expires = /; Expires=([^;]+)/.exec(line)?.[1] ?? "";
    expect(Number.isNaN(Date.parse(expires)), line).toBe(false);
  }
}

describe("a session redis-sessions 4 created with ttl 3600.5", () => {
  it.each(HOSTS)("is read, rolled and written under %s without a 500", async (host) => {
    let now = T;
    const store = stores.open({ clock: () => now });
    const v4 = openV4(redisUrl(), store.options.namespace, { clock: () => now });
    try {
      const { token } = await v4.create({ app, id: "u1", ip: "::1", ttl: 3600.5 });
      expect(await raw.hget(`${store.options.namespace}:${app}:${token}`, "ttl")).toBe("3600.5");
      const mw = redisSessions({ app, store });
      const server = buildApp(host, mw);
      // In the next refresh window (360 s for this ttl): the cookie must roll.
      now += 400;
      const read = await request(server).get("/get").set("Cookie", `rs.sid=${token}`);
      expect(read.status).toBe(200);
      wellFormed(read.body.session);
      expect(read.body.session.ttl).toBe(3601);
      const [cookie] = cookiesNamed(read.headers, "rs.sid");
      expect(cookie?.value).toBe(token);
      // ttl + window + 2, the ttl rounded up: the cookie never expires before the session.
      expect(cookie?.maxAge).toBe(3601 + 360 + 2);
      cookiesWellFormed(read.headers);
      const written = await request(server)
        .post("/set")
        .set("Cookie", `rs.sid=${token}`)
        .send({ d: { a: "1" } });
      expect(written.status).toBe(200);
      wellFormed(written.body.session);
      // redis-sessions 4 still reads it as it wrote it.
      expect(await v4.get({ app, token })).toMatchObject({ ttl: 3600.5, d: { a: "1" } });
    } finally {
      await closeV4(v4);
    }
  });
});

/** Values another client may leave in a numeric field. */
const ODD = ["3600.5", "-5", "", "1e400", "-1e400", "99999999999999999999", "abc", "nan", " 60 "];
/** A session with `field` set to `value` by "another client", 400 s after its last activity. */
async function oddSession(field: string, value: string) {
  const now = T;
  const store = stores.open({ clock: () => now });
  const ns = store.options.namespace;
  const { token } = await store.create({ app, id: "u1", ip: "::1", d: { a: 1 } });
  await raw.hset(`${ns}:${app}:${token}`, "la", String(now - 400));
  await raw.hset(`${ns}:${app}:${token}`, field, value);
  return { store, token, now, key: `${ns}:${app}:${token}` };
}

async function neverFails(field: string, value: string): Promise<void> {
  const { store, token } = await oddSession(field, value);
  const session = await store.get({ app, token });
  if (session) wellFormed(session);
  for (const list of [await store.soid({ app, id: "u1" }), await store.soapp({ app, dt: 600 })]) {
    for (const s of list.sessions) wellFormed(s);
  }
  const mw = redisSessions({ app, store });
  for (const host of HOSTS) {
    const server = buildApp(host, mw);
    const read = await request(server).get("/get").set("Cookie", `rs.sid=${token}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    if (read.body.session) wellFormed(read.body.session);
    cookiesWellFormed(read.headers);
    const written = await request(server)
      .post("/set")
      .set("Cookie", `rs.sid=${token}`)
      .send({ d: { b: host } });
    expect(written.status, JSON.stringify(written.body)).toBe(200);
    if (written.body.session) wellFormed(written.body.session);
    cookiesWellFormed(written.headers);
  }
}

describe.each(["ttl", "la", "r", "w"])("a hash field %s written by another client", (field) => {
  it.each(ODD)("as %j never fails a read, a write or the cookie", (value) =>
    neverFails(field, value),
  );
});

it.each(ODD.filter((v) => v !== "-5"))(
  "an r of %j does not stop the get script from refreshing activity",
  async (value) => {
    const { store, token, now, key } = await oddSession("r", value);
    expect(await store.get({ app, token })).not.toBeNull();
    expect(await raw.hget(key, "la")).toBe(String(now));
  },
);

describe("a no_resave session whose ttl another client made fractional", () => {
  it("gets a cookie with a whole Max-Age that does not outlive it by more than a second", async () => {
    let now = T;
    const store = stores.open({ clock: () => now });
    const ns = store.options.namespace;
    const { token } = await store.create({ app, id: "u1", ip: "::1", no_resave: true, ttl: 600 });
    await raw.hset(`${ns}:${app}:${token}`, "ttl", "600.25");
    now += 100;
    const s = await store.get({ app, token });
    expect(s).toMatchObject({ no_resave: true, ttl: 501, idle: 100 });
  });
});

describe("ttl bounds", () => {
  async function rejection(p: Promise<unknown>) {
    try {
      await p;
    } catch (err) {
      if (isRedisSessionsError(err)) return err;
      throw err;
    }
    throw new Error("expected a rejection");
  }

  it("the middleware refuses a ttl beyond ten years at setup", () => {
    const store = stores.open();
    expect(() => redisSessions({ app, store, ttl: 9e12 })).toThrow(
      'option "ttl" must be at most 315360000 seconds (ten years) (received 9000000000000)',
    );
    expect(() => redisSessions({ app, store, ttl: 315_360_000 })).not.toThrow();
  });

  it("the store's create refuses it before any Redis call, and accepts ten years", async () => {
    const store = stores.open();
    for (const ttl of [315_360_001, 9e12, "9000000000000"]) {
      const err = await rejection(store.create({ app, id: "u1", ip: "::1", ttl }));
      expect({ code: err.code, status: err.status, message: err.message }).toEqual({
        code: "ERS_INVALID_TTL",
        status: 400,
        message: "ttl must be at most 315360000 seconds (ten years)",
      });
    }
    expect(await dumpNamespace(raw, store.options.namespace)).toEqual({});
    const { token } = await store.create({ app, id: "u1", ip: "::1", ttl: 315_360_000 });
    expect((await store.get({ app, token }))?.ttl).toBe(315_360_000);
  });

  it.each(HOSTS)(
    "upsert({ ttl }) beyond it answers 400 under %s and writes nothing",
    async (host) => {
      const mw = redisSessions({ app, store: stores.open() });
      const res = await request(buildApp(host, mw)).post("/upsert").send({ id: "u1", ttl: 9e12 });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("ERS_INVALID_TTL");
      expect(setCookieLines(res.headers)).toEqual([]);
      expect(await dumpNamespace(raw, mw.store.options.namespace)).toEqual({});
    },
  );

  it.each(HOSTS)("a ten-year session gets a valid cookie under %s", async (host) => {
    const mw = redisSessions({ app, store: stores.open(), ttl: 315_360_000 });
    const res = await request(buildApp(host, mw)).post("/upsert").send({ id: "u1" });
    expect(res.status).toBe(200);
    cookiesWellFormed(res.headers);
  });
});
