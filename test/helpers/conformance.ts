import express from "express";
import type { Redis } from "ioredis";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import {
  RedisSessions,
  type RequestWithSession,
  redisSessions,
  restSessions,
  type StoreOptions,
} from "../../src/index.js";
import { listApps } from "../../src/layouts/apps.js";
import { uniqueNamespace } from "./context.js";
import { listingSuite } from "./listing-suite.js";
import { until } from "./wait.js";

/** Where the conformance suite runs: the store options that reach it, and its masters. */
export interface ConformanceTarget {
  /** Connection and layout options, merged into every store the suite makes. */
  options: StoreOptions;
  /** Plain clients to every master, to count keys and read error stats. */
  masters(): Redis[];
}

/** A fake clock in unix seconds that the tests move. */
class Clock {
  now = 1_800_000_000;
  readonly read = () => this.now;
}

const APP = "webapp";
const OTHER = "mobile";

/**
 * The behaviour every layout and deployment must share: one suite, run against the compat
 * layout, the cluster layout on one Redis, and the cluster layout on a real Redis Cluster.
 * `target` is read when the tests run (a cluster is started in `beforeAll`).
 */
export function conformanceSuite(target: () => ConformanceTarget): void {
  const stores: RedisSessions[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.quit()));
  });

  function open(extra: StoreOptions = {}) {
    const clock = new Clock();
    const store = new RedisSessions({
      ...target().options,
      namespace: uniqueNamespace("cf"),
      wipe: 0,
      clock: clock.read,
      ...extra,
    });
    stores.push(store);
    return { store, clock };
  }

  describe("single sessions", () => {
    it("create, get, set, kill: counters, data merge and v4's shapes", async () => {
      const { store, clock } = open();
      const { token } = await store.create({ app: APP, id: "u1", ip: "10.0.0.1", d: { a: 1 } });
      expect(token).toMatch(/^[0-9A-Za-z]{64}$/);
      expect(await store.get({ app: APP, token })).toEqual({
        id: "u1",
        r: 1,
        w: 1,
        ttl: 7200,
        idle: 0,
        ip: "10.0.0.1",
        d: { a: 1 },
        // Additive fields after v4's: created and last authentication, on the store's clock.
        created: clock.now,
        auth: clock.now,
      });
      clock.now += 5;
      // Text-level merge: the stored number keeps its digits, new keys are appended.
      const set = await store.set({
        app: APP,
        token,
        d: { b: 0.30000000000000004, a: null, c: "x" },
      });
      expect(set).toEqual({
        id: "u1",
        r: 2,
        w: 2,
        ttl: 7200,
        idle: 5,
        ip: "10.0.0.1",
        d: { b: 0.30000000000000004, c: "x" },
        created: clock.now - 5,
        auth: clock.now - 5,
      });
      expect(Object.keys(set?.d ?? {})).toEqual(["b", "c"]);
      expect(await store.kill({ app: APP, token })).toEqual({ kill: 1 });
      expect(await store.get({ app: APP, token })).toBeNull();
      expect(await store.kill({ app: APP, token })).toEqual({ kill: 0 });
      expect(await store.set({ app: APP, token, d: { a: 1 } })).toBeNull();
    });

    it("expires sessions on the store's clock, sliding and fixed (no_resave)", async () => {
      const { store, clock } = open();
      const sliding = await store.create({ app: APP, id: "u1", ip: "1", ttl: 10 });
      const fixed = await store.create({ app: APP, id: "u2", ip: "1", ttl: 10, no_resave: true });
      clock.now += 8;
      expect((await store.get({ app: APP, ...sliding }))?.ttl).toBe(10);
      expect((await store.get({ app: APP, ...fixed }))?.ttl).toBe(2);
      clock.now += 8;
      // 16 s after create: the sliding one was read at 8 s, the fixed one is gone.
      expect((await store.get({ app: APP, ...sliding }))?.idle).toBe(8);
      expect(await store.get({ app: APP, ...fixed })).toBeNull();
      clock.now += 11;
      expect(await store.get({ app: APP, ...sliding })).toBeNull();
      expect(await store.activity({ app: APP, deltaTime: 10 })).toEqual({ activity: 0 });
    });

    it("rotate moves the session to a new token; the old one is dead at once", async () => {
      const { store, clock } = open();
      const { token } = await store.create({ app: APP, id: "u1", ip: "1", d: { k: "v" } });
      clock.now += 3;
      const next = await store.rotate({ app: APP, token });
      expect(next?.token).toMatch(/^[0-9A-Za-z]{64}$/);
      expect(next?.token).not.toBe(token);
      expect(await store.get({ app: APP, token })).toBeNull();
      const moved = await store.get({ app: APP, token: next?.token ?? "" });
      expect(moved).toMatchObject({ id: "u1", d: { k: "v" }, idle: 0 });
      expect((await store.soid({ app: APP, id: "u1" })).sessions.map((s) => s.token)).toEqual([
        next?.token,
      ]);
      expect(await store.rotate({ app: APP, token })).toBeNull();
    });

    it("answers no session for tokens it never issued, without errors", async () => {
      const { store } = open();
      for (const token of ["0".repeat(64), "z".repeat(64), "Zz".repeat(32)]) {
        expect(await store.get({ app: APP, token })).toBeNull();
        expect(await store.kill({ app: APP, token })).toEqual({ kill: 0 });
        expect(await store.rotate({ app: APP, token })).toBeNull();
      }
    });
  });

  describe("per user and per app", () => {
    it("soid and killsoid see exactly one user's sessions", async () => {
      const { store, clock } = open();
      const mine = [];
      for (let i = 0; i < 3; i++) {
        mine.push((await store.create({ app: APP, id: "alice", ip: `10.0.0.${i}` })).token);
        clock.now += 1;
      }
      const bob = await store.create({ app: APP, id: "bob", ip: "1" });
      await store.create({ app: OTHER, id: "alice", ip: "1" });
      const soid = await store.soid({ app: APP, id: "alice" });
      expect(soid.sessions.map((s) => s.token).sort()).toEqual([...mine].sort());
      expect(soid.sessions.every((s) => s.id === "alice")).toBe(true);
      expect(await store.killsoid({ app: APP, id: "alice" })).toEqual({ kill: 3 });
      expect(await store.soid({ app: APP, id: "alice" })).toEqual({ sessions: [] });
      for (const token of mine) expect(await store.get({ app: APP, token })).toBeNull();
      expect(await store.get({ app: APP, ...bob })).toMatchObject({ id: "bob" });
      expect((await store.soid({ app: OTHER, id: "alice" })).sessions).toHaveLength(1);
      expect(await store.killsoid({ app: APP, id: "alice" })).toEqual({ kill: 0 });
    });

    it("activity and soapp are exact across many users, most recent first", async () => {
      const { store, clock } = open();
      const expected: { token: string; id: string; at: number }[] = [];
      for (let i = 0; i < 40; i++) {
        const id = `user-${i}`;
        const { token } = await store.create({ app: APP, id, ip: "1" });
        expected.push({ token, id, at: clock.now });
        if (i % 4 === 0) {
          const second = await store.create({ app: APP, id, ip: "2" });
          expected.push({ token: second.token, id, at: clock.now });
        }
        clock.now += 2;
      }
      // 40 users over 80 s: the last 30 s hold users 25..39 (created at +50 … +78 s).
      expect(await store.activity({ app: APP, deltaTime: 30 })).toEqual({ activity: 15 });
      expect(await store.activity({ app: APP, deltaTime: 1000 })).toEqual({ activity: 40 });
      expect(await store.activity({ app: OTHER, deltaTime: 1000 })).toEqual({ activity: 0 });
      const { sessions } = await store.soapp({ app: APP, deltaTime: 30 });
      const recent = expected.filter((e) => e.at >= clock.now - 30);
      expect(sessions.map((s) => s.token).sort()).toEqual(recent.map((e) => e.token).sort());
      // Most recent first, each with its own idle time.
      const at = new Map(expected.map((e) => [e.token, e.at]));
      const idle = sessions.map((s) => s.idle);
      expect(idle).toEqual(sessions.map((s) => clock.now - (at.get(s.token) ?? 0)));
      expect(idle).toEqual([...idle].sort((a, b) => a - b));
    });

    it("killall ends every session of one app and counts the live ones", async () => {
      const { store, clock } = open();
      for (let i = 0; i < 25; i++) await store.create({ app: APP, id: `u${i}`, ip: "1", ttl: 10 });
      clock.now += 5;
      for (let i = 0; i < 5; i++) await store.create({ app: APP, id: `late${i}`, ip: "1" });
      const keep = await store.create({ app: OTHER, id: "u1", ip: "1" });
      clock.now += 10;
      // The 25 short sessions expired; only the 5 late ones count.
      expect(await store.killall({ app: APP })).toEqual({ kill: 5 });
      expect(await store.soapp({ app: APP, deltaTime: 10_000 })).toEqual({ sessions: [] });
      expect(await store.activity({ app: APP, deltaTime: 10_000 })).toEqual({ activity: 0 });
      expect(await store.get({ app: OTHER, ...keep })).toMatchObject({ id: "u1" });
      expect(await store.killall({ app: APP })).toEqual({ kill: 0 });
    });

    it("wipe removes expired sessions and their index entries", async () => {
      const { store, clock } = open();
      const gone = [];
      for (let i = 0; i < 12; i++) {
        gone.push((await store.create({ app: APP, id: `u${i % 4}`, ip: "1", ttl: 10 })).token);
      }
      const live = await store.create({ app: APP, id: "u0", ip: "1", ttl: 100 });
      clock.now += 30;
      expect(await store.wipe()).toBe(12);
      expect(await store.wipe()).toBe(0);
      expect(await store.activity({ app: APP, deltaTime: 1000 })).toEqual({ activity: 1 });
      expect((await store.soid({ app: APP, id: "u0" })).sessions.map((s) => s.token)).toEqual([
        live.token,
      ]);
      for (const token of gone) expect(await store.get({ app: APP, token })).toBeNull();
    });
  });

  describe("on top of the store", () => {
    it("the middleware logs in, reads, and logs out through a cookie", async () => {
      const { store } = open();
      const web = express();
      web.use(express.json());
      web.use(redisSessions({ app: APP, store }));
      web.post("/login", async (req, res) => {
        const rs = (req as unknown as RequestWithSession).rs;
        await rs.upsert(req.body.id, { name: req.body.id });
        res.json({ token: rs.token });
      });
      web.get("/me", async (req, res) => {
        res.json({ session: await (req as unknown as RequestWithSession).rs.get() });
      });
      web.post("/logout", async (req, res) => {
        res.json(await (req as unknown as RequestWithSession).rs.kill());
      });
      const agent = request.agent(web);
      const login = await agent.post("/login").send({ id: "carol" }).expect(200);
      expect(login.body.token).toMatch(/^[0-9A-Za-z]{64}$/);
      const me = await agent.get("/me").expect(200);
      expect(me.body.session).toMatchObject({ id: "carol", d: { name: "carol" } });
      expect((await agent.post("/logout").expect(200)).body).toEqual({ kill: 1 });
      expect((await agent.get("/me").expect(200)).body).toEqual({ session: null });
      expect(await store.get({ app: APP, token: login.body.token })).toBeNull();
    });

    it("the REST router serves rest-sessions' routes", async () => {
      const { store } = open();
      const web = express();
      web.use("/rs", restSessions({ store, express }));
      const created = await request(web).put(`/rs/${APP}/create/dave?ip=10.1.1.1`).expect(200);
      const token = created.body.token as string;
      const got = await request(web).get(`/rs/${APP}/get/${token}`).expect(200);
      expect(got.body).toMatchObject({ id: "dave", ip: "10.1.1.1" });
      await request(web).put(`/rs/${APP}/create/dave?ip=10.1.1.2`).expect(200);
      const soid = await request(web).get(`/rs/${APP}/soid/dave`).expect(200);
      expect(soid.body.sessions).toHaveLength(2);
      const activity = await request(web).get(`/rs/${APP}/activity?dt=600`).expect(200);
      expect(activity.body).toEqual({ activity: 1 });
      // The admin dashboard's app list finds the app in either layout.
      expect((await listApps(store.redis, store.keys)).apps).toEqual([APP]);
      const killsoid = await request(web).delete(`/rs/${APP}/killsoid/dave`).expect(200);
      expect(killsoid.body).toEqual({ kill: 2 });
      expect((await request(web).get(`/rs/${APP}/get/${token}`).expect(200)).body).toEqual({});
    });

    it("a kill in one process reaches another process's cache", async () => {
      const { store: a } = open({ cachetime: 60 });
      const b = new RedisSessions({
        ...target().options,
        namespace: a.options.namespace,
        wipe: 0,
        clock: a.options.clock,
      });
      stores.push(b);
      await until(() => a.cacheStats().active, { what: "the cache to subscribe" });
      const { token } = await b.create({ app: APP, id: "erin", ip: "1" });
      expect(await a.get({ app: APP, token })).toMatchObject({ id: "erin" });
      expect(await a.get({ app: APP, token })).toMatchObject({ id: "erin" });
      expect(a.cacheStats().hits).toBe(1);
      expect(await b.kill({ app: APP, token })).toEqual({ kill: 1 });
      await until(() => a.cacheStats().invalidations >= 1, {
        what: "the other process' kill to reach the cache",
      });
      expect(await a.get({ app: APP, token })).toBeNull();
    });
  });

  listingSuite(() => target().options);
}

/** The number of CROSSSLOT errors the servers have answered since their stats were reset. */
export async function crossSlotErrors(masters: Redis[]): Promise<number> {
  let total = 0;
  for (const node of masters) {
    const stats = await node.info("errorstats");
    total += Number(/errorstat_CROSSSLOT:count=(\d+)/.exec(stats)?.[1] ?? 0);
  }
  return total;
}
