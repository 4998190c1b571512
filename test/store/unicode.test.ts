import type { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRedisSessionsError, type RedisSessions, redisSessions } from "../../src/index.js";
import { buildApp } from "../helpers/apps.js";
import { dumpNamespace, rawClient } from "../helpers/context.js";
import { storePool } from "../helpers/stores.js";

/*
 * Strings that are not well-formed UTF-16 (a lone surrogate such as "\ud800") cannot reach Redis
 * as they are: their UTF-8 encoding turns each lone surrogate into U+FFFD. An id, ip or d key
 * holding one would be stored as another string, so it would alias (overwrite or delete) another
 * key, or come back changed. They are refused before any Redis call. d values are sent as JSON,
 * which escapes lone surrogates, so they round-trip exactly and are accepted.
 */

const app = "uniapp";
const LONE = ["\ud800", "a\udfffb", "x\ud83d", "\ude00y"];
const stores = storePool();
let raw: Redis;
let store: RedisSessions;

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    if (isRedisSessionsError(err)) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

beforeAll(() => {
  raw = rawClient();
  store = stores.open();
});

afterAll(async () => {
  await stores.quitAll();
  raw.disconnect();
});

describe("lone surrogates", () => {
  it.each(LONE)("an id %j is refused with a 400, and nothing is written", async (id) => {
    const ns = store.options.namespace;
    for (const call of [
      () => store.create({ app, id, ip: "::1" }),
      () => store.soid({ app, id }),
      () => store.killsoid({ app, id }),
    ]) {
      const err = await rejection(call());
      expect({ code: err.code, status: err.status, message: err.message }).toEqual({
        code: "ERS_INVALID_ID",
        status: 400,
        message: "Invalid id format",
      });
    }
    expect(await dumpNamespace(raw, ns)).toEqual({});
  });

  it.each(LONE)("an ip %j is refused with a 400", async (ip) => {
    const err = await rejection(store.create({ app, id: "u1", ip }));
    expect({ code: err.code, status: err.status }).toEqual({ code: "ERS_INVALID_IP", status: 400 });
  });

  it("a d key with one is refused in create and set: it never overwrites or deletes another key", async () => {
    const ns = store.options.namespace;
    // U+FFFD is what "\ud800" would become on its way to Redis.
    const { token } = await store.create({ app, id: "u1", ip: "::1", d: { "\ufffd": "mine" } });
    const before = await dumpNamespace(raw, ns);
    for (const d of [{ "\ud800": "theirs" }, { "\ud800": null }, { ok: 1, "k\udc00": 2 }]) {
      const set = await rejection(store.set({ app, token, d }));
      expect({ code: set.code, status: set.status }).toEqual({
        code: "ERS_INVALID_D_KEY",
        status: 400,
      });
      const created = await rejection(store.create({ app, id: "u2", ip: "::1", d }));
      expect(created.code).toBe("ERS_INVALID_D_KEY");
    }
    expect(await dumpNamespace(raw, ns)).toEqual(before);
    expect((await store.get({ app, token }))?.d).toEqual({ "\ufffd": "mine" });
  });

  it("d values with lone surrogates round-trip exactly (JSON escapes them)", async () => {
    const value = "a\ud800b\udfffc\ud83d\ude00";
    const { token } = await store.create({ app, id: "u3", ip: "::1", d: { v: value } });
    expect((await store.get({ app, token }))?.d).toEqual({ v: value });
    const merged = await store.set({ app, token, d: { w: value, v: `${value}!` } });
    expect(merged?.d).toEqual({ v: `${value}!`, w: value });
    expect((await store.get({ app, token }))?.d).toEqual({ v: `${value}!`, w: value });
  });

  it("well-formed astral characters (surrogate pairs) are accepted everywhere", async () => {
    const id = "user\ud83d\ude00";
    const { token } = await store.create({
      app,
      id,
      ip: "\ud83d\ude00",
      d: { "k\ud83d\ude00": 1 },
    });
    expect(await store.get({ app, token })).toMatchObject({ id, d: { "k\ud83d\ude00": 1 } });
    expect((await store.soid({ app, id })).sessions.map((s) => s.token)).toEqual([token]);
  });

  it("the middleware's upsert answers 400 for such an id and creates no session", async () => {
    const mw = redisSessions({ app, store: stores.open() });
    const ns = mw.store.options.namespace;
    for (const host of ["express5", "express4"] as const) {
      const res = await request(buildApp(host, mw)).post("/upsert").send({ id: "\ud800" });
      expect(res.status).toBe(400);
      expect(res.headers["set-cookie"]).toBeUndefined();
    }
    expect(await dumpNamespace(raw, ns)).toEqual({});
  });
});
