import type { IncomingMessage } from "node:http";
import express from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadSession,
  type MiddlewareOptions,
  RedisSessions,
  type RequestWithSession,
  redisSessions,
  requireSession,
} from "../../src/index.js";
import { buildApp, cookiesNamed, HOSTS, scenarioApp, setCookieLines } from "../helpers/apps.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { freePort } from "../helpers/redis-server.js";
import { storePool } from "../helpers/stores.js";

let store: RedisSessions;
const stores = storePool();

beforeAll(() => {
  store = stores.open({ namespace: uniqueNamespace("mwo") });
});
afterAll(() => stores.quitAll());

function app(options: Omit<MiddlewareOptions, "store">, host: (typeof HOSTS)[number] = "express5") {
  return scenarioApp(host, { store, ...options }).app;
}

async function loginCookie(options: Omit<MiddlewareOptions, "store">, id = "u1", name = "rs.sid") {
  const res = await request(app(options)).post("/upsert").send({ id }).expect(200);
  return { res, cookie: cookiesNamed(res.headers, name)[0], token: res.body.token as string };
}

describe("option validation", () => {
  const cases: [string, unknown, string][] = [
    ["no options", undefined, 'options must be an object with at least "app" (received undefined)'],
    [
      "no app",
      {},
      'option "app" must be 3–20 of [A-Za-z0-9_-], or a function of the request (received undefined)',
    ],
    [
      "a bad app",
      { app: "a b" },
      'option "app" must be 3–20 of [A-Za-z0-9_-], or a function of the request (received "a b")',
    ],
    [
      "a short app",
      { app: "ab" },
      'option "app" must be 3–20 of [A-Za-z0-9_-], or a function of the request (received "ab")',
    ],
    [
      "an unknown option",
      { app: "web", zzz: {} },
      'unknown option "zzz"; known options: app, store, ttl, absolute, no_resave, cookie, header, bearer, onStoreError',
    ],
    ["a near miss", { app: "web", cokie: {} }, 'unknown option "cokie"; did you mean "cookie"?'],
    [
      "a ttl below 10",
      { app: "web", ttl: 5 },
      'option "ttl" must be an integer number of seconds >= 10 (received 5)',
    ],
    [
      "a fractional ttl",
      { app: "web", ttl: 60.5 },
      'option "ttl" must be an integer number of seconds >= 10 (received 60.5)',
    ],
    [
      "a string ttl",
      { app: "web", ttl: "60" },
      'option "ttl" must be an integer number of seconds >= 10 (received "60")',
    ],
    [
      "a non-boolean no_resave",
      { app: "web", no_resave: 1 },
      'option "no_resave" must be true or false (received 1)',
    ],
    [
      "cookie: true",
      { app: "web", cookie: true },
      'option "cookie" must be false or an object of cookie options (received true)',
    ],
    [
      "cookie.maxAge",
      { app: "web", cookie: { maxAge: 1000 } },
      `unknown option "cookie.maxAge"; the cookie's lifetime follows the session's ttl`,
    ],
    [
      "a bad cookie name",
      { app: "web", cookie: { name: "a b" } },
      'option "cookie.name" must be a cookie name (1–64 token characters) or a function (received "a b")',
    ],
    [
      "a bad cookie path",
      { app: "web", cookie: { path: "x" } },
      'option "cookie.path" must be a path like "/" (received "x")',
    ],
    [
      "a cookie path with ;",
      { app: "web", cookie: { path: "/a;b" } },
      'option "cookie.path" must be a path like "/" (received "/a;b")',
    ],
    [
      "a bad cookie domain",
      { app: "web", cookie: { domain: "a b.com" } },
      'option "cookie.domain" must be a domain name (received "a b.com")',
    ],
    [
      "a bad secure",
      { app: "web", cookie: { secure: "yes" } },
      'option "cookie.secure" must be true, false or "auto" (received "yes")',
    ],
    [
      "a bad sameSite",
      { app: "web", cookie: { sameSite: true } },
      'option "cookie.sameSite" must be "lax", "strict", "none" or false (received true)',
    ],
    [
      "sameSite none without secure",
      { app: "web", cookie: { sameSite: "none", secure: false } },
      'option "cookie.secure" must be true or "auto" with sameSite "none" (received false)',
    ],
    [
      "partitioned without secure",
      { app: "web", cookie: { partitioned: true, secure: false } },
      'option "cookie.secure" must be true or "auto" with partitioned (received false)',
    ],
    [
      "a bad priority",
      { app: "web", cookie: { priority: "urgent" } },
      'option "cookie.priority" must be "low", "medium" or "high" (received "urgent")',
    ],
    [
      "a bad httpOnly",
      { app: "web", cookie: { httpOnly: "no" } },
      'option "cookie.httpOnly" must be true or false (received "no")',
    ],
    [
      "__Host- without secure",
      { app: "web", cookie: { name: "__Host-sid" } },
      'option "cookie.secure" must be true for a __Host- cookie name (received "auto")',
    ],
    [
      "__Host- with a domain",
      { app: "web", cookie: { name: "__Host-sid", secure: true, domain: "example.com" } },
      'option "cookie.domain" must be absent for a __Host- cookie name (received "example.com")',
    ],
    [
      "__Host- with a path",
      { app: "web", cookie: { name: "__Host-sid", secure: true, path: "/app" } },
      'option "cookie.path" must be "/" for a __Host- cookie name (received "/app")',
    ],
    [
      "__Secure- without secure",
      { app: "web", cookie: { name: "__Secure-sid", secure: false } },
      'option "cookie.secure" must be true for a __Secure- cookie name (received false)',
    ],
    [
      "a bad header",
      { app: "web", header: "x token" },
      'option "header" must be a header name or false (received "x token")',
    ],
    [
      "header: Authorization",
      { app: "web", header: "Authorization" },
      'option "header" must be a header other than "cookie" and "authorization" (received "Authorization")',
    ],
    [
      "header: true",
      { app: "web", header: true },
      'option "header" must be a header name or false (received true)',
    ],
    [
      "a bad bearer",
      { app: "web", bearer: "yes" },
      'option "bearer" must be true or false (received "yes")',
    ],
    [
      "no transport at all",
      { app: "web", cookie: false, header: false, bearer: false },
      'option "cookie" must be enabled unless a header or bearer tokens are (received false)',
    ],
    [
      "a bad onStoreError",
      { app: "web", onStoreError: "ignore" },
      'option "onStoreError" must be "error" or "anonymous" (received "ignore")',
    ],
    [
      "a bad store",
      { app: "web", store: 42 },
      'option "store" must be a RedisSessions or store options (received 42)',
    ],
    [
      "an unknown store option",
      { app: "web", store: { url: "redis://127.0.0.1:1" } },
      'unknown option "store.url"; use "redis" for a URL: { redis: "redis://host:6379" }',
    ],
    [
      "bad store options",
      { app: "web", store: { namespace: "a b" } },
      'option "namespace" must be a string of at most 64 characters without spaces or braces (received "a b")',
    ],
  ];

  it.each(cases)("rejects %s with a TypeError that names it", (_, options, message) => {
    expect(() => redisSessions(options as MiddlewareOptions)).toThrow(
      new TypeError(`express-redis-sessions: ${message}`),
    );
  });

  it("does not change the caller's options object", () => {
    const options = Object.freeze({
      app: "frozen",
      store,
      cookie: Object.freeze({ name: "sid" }),
    });
    const mw = redisSessions(options);
    expect(mw.store).toBe(store);
    expect(Object.keys(options)).toEqual(["app", "store", "cookie"]);
  });

  it("accepts store options and exposes the store it created", async () => {
    const mw = redisSessions({ app: "own", store: { redis: redisUrl(), namespace: "mwown" } });
    stores.track(mw.store);
    expect(mw.store).toBeInstanceOf(RedisSessions);
    expect(mw.store.options.namespace).toBe("mwown");
    expect(await mw.store.ping()).toBe("PONG");
  });
});

describe("cookie options", () => {
  it("default to rs.sid, Path=/, HttpOnly, SameSite=Lax, not Secure over plain HTTP", async () => {
    const { res, cookie, token } = await loginCookie({ app: "webapp" });
    expect(setCookieLines(res.headers)[0]).toMatch(
      new RegExp(
        `^rs\\.sid=${token}; Max-Age=7922; Path=/; Expires=[^;]+ GMT; HttpOnly; SameSite=Lax$`,
      ),
    );
    expect(cookie?.expires?.getTime()).toBeGreaterThan(Date.now() + 7900_000);
  });

  it.each([
    ["a __Host- name from a function", { name: () => "__Host-sid" }, "__Host-sid"],
    ["a __Secure- name from a function", { name: () => "__Secure-sid" }, "__Secure-sid"],
    ["SameSite=None", { name: "sid", sameSite: "none" as const }, "sid"],
    ["a partitioned cookie", { name: "sid", partitioned: true }, "sid"],
  ])("send Secure even over plain HTTP for %s (browsers drop it otherwise)", async (_, c, name) => {
    const { res, cookie } = await loginCookie({ app: "webapp", cookie: c }, "u1", name);
    expect(cookie?.secure).toBe(true);
    expect(setCookieLines(res.headers)[0]).toMatch(/; Secure/);
  });

  it("set every attribute they are given", async () => {
    const { cookie } = await loginCookie(
      {
        app: "webapp",
        cookie: {
          name: "sid",
          path: "/app",
          domain: "example.com",
          httpOnly: false,
          secure: true,
          sameSite: "none",
          partitioned: true,
          priority: "high",
        },
      },
      "u1",
      "sid",
    );
    expect(cookie).toMatchObject({
      name: "sid",
      path: "/app",
      domain: "example.com",
      secure: true,
      sameSite: "none",
      partitioned: true,
      priority: "high",
    });
    expect(cookie?.httpOnly).toBeFalsy();
  });

  it("leave SameSite out when sameSite is false, and Max-Age when not persistent", async () => {
    const { res } = await loginCookie({
      app: "webapp",
      cookie: { sameSite: false, persistent: false, secure: false },
    });
    const line = setCookieLines(res.headers)[0] ?? "";
    expect(line).toMatch(/^rs\.sid=[0-9A-Za-z]{64}; Path=\/; HttpOnly$/);
  });

  it('with secure "auto" follow Express\'s trust proxy for X-Forwarded-Proto', async () => {
    const mw = redisSessions({ app: "webapp", store });
    const trusted = buildApp("express5", mw, { trustProxy: true });
    const untrusted = buildApp("express4", mw);
    const viaProxy = await request(trusted)
      .post("/upsert")
      .set("X-Forwarded-Proto", "https")
      .send({ id: "p" });
    expect(cookiesNamed(viaProxy.headers, "rs.sid")[0]?.secure).toBe(true);
    const spoofed = await request(untrusted)
      .post("/upsert")
      .set("X-Forwarded-Proto", "https")
      .send({ id: "p" });
    expect(cookiesNamed(spoofed.headers, "rs.sid")[0]?.secure).toBeFalsy();
  });

  it("can be named per app when the app comes from the request", async () => {
    const options: MiddlewareOptions = {
      store,
      app: (req: IncomingMessage) => (req.headers["x-app"] as string | undefined) ?? null,
      cookie: { name: (a) => `${a}.sid` },
    };
    const web = scenarioApp("connect", options).app;
    const one = await request(web).post("/upsert").set("X-App", "shop").send({ id: "u" });
    expect(cookiesNamed(one.headers, "shop.sid")[0]?.value).toBe(one.body.token);
    const other = await request(web)
      .get("/get")
      .set("X-App", "blog")
      .set("Cookie", `shop.sid=${one.body.token}`);
    // Another app neither sees nor clears the first app's cookie.
    expect(other.body).toMatchObject({ session: null, token: null });
    expect(setCookieLines(other.headers)).toEqual([]);
    const none = await request(web).get("/noop").set("X-App", "no way!");
    expect(none.body).toEqual({ token: null, source: null, app: null });
    const login = await request(web).post("/upsert").send({ id: "u" }).expect(400);
    expect(login.body).toMatchObject({ code: "ERS_MISSING_APP", message: "No app supplied" });
  });

  it("cookie: false sets no cookie and leaves the token to the client", async () => {
    const web = app({ app: "webapp", cookie: false });
    const res = await request(web).post("/upsert").send({ id: "api" }).expect(200);
    expect(setCookieLines(res.headers)).toEqual([]);
    const me = await request(web).get("/get").set("Authorization", `Bearer ${res.body.token}`);
    expect(me.body.id).toBe("api");
    const viaCookie = await request(web).get("/get").set("Cookie", `rs.sid=${res.body.token}`);
    expect(viaCookie.body.token).toBeNull();
  });
});

describe("transport options", () => {
  it("header names another header, and header: false ignores it", async () => {
    const { token } = await loginCookie({ app: "webapp" });
    const custom = app({ app: "webapp", header: "X-Auth-Token" });
    const res = await request(custom).get("/get").set("x-auth-token", token);
    expect(res.body).toMatchObject({ source: "header", id: "u1" });
    const standard = await request(custom).get("/get").set("x-session-token", token);
    expect(standard.body.token).toBeNull();
    const off = app({ app: "webapp", header: false });
    const ignored = await request(off).get("/get").set("x-session-token", token);
    expect(ignored.body.token).toBeNull();
  });

  it("bearer: false ignores Authorization", async () => {
    const { token } = await loginCookie({ app: "webapp" });
    const res = await request(app({ app: "webapp", bearer: false }))
      .get("/get")
      .set("Authorization", `Bearer ${token}`);
    expect(res.body.token).toBeNull();
    const lower = await request(app({ app: "webapp" }))
      .get("/get")
      .set("Authorization", `bearer ${token}`);
    expect(lower.body.source).toBe("bearer");
  });
});

describe("session options", () => {
  it("ttl sets new sessions' idle timeout and the cookie's Max-Age", async () => {
    const { res, cookie } = await loginCookie({ app: "webapp", ttl: 600 });
    expect(res.body.session.ttl).toBe(600);
    expect(cookie?.maxAge).toBe(600 + 60 + 2);
  });

  it("no_resave gives new sessions an absolute lifetime", async () => {
    const { res, cookie } = await loginCookie({ app: "webapp", ttl: 300, no_resave: true });
    expect(res.body.session).toMatchObject({ ttl: 300, no_resave: true });
    expect(cookie?.maxAge).toBe(301);
  });
});

describe("store option", () => {
  it("is what req.rs.store gives routes (for other users' sessions)", async () => {
    const mw = redisSessions({ app: "webapp", store });
    const web = express();
    web.use(mw);
    web.get("/", (req, res) => {
      res.json({ same: req.rs.store === store && mw.store === store });
    });
    expect((await request(web).get("/")).body).toEqual({ same: true });
  });

  it("with a cache lengthens the cookie by the cache's refresh delay", async () => {
    const cached = stores.open({ namespace: uniqueNamespace("mwc"), cachetime: 5 });
    const res = await request(scenarioApp("http", { app: "webapp", store: cached }).app)
      .post("/upsert")
      .send({ id: "c" })
      .expect(200);
    // ttl + window + 2 s clock allowance + 5 s cache refresh interval + 1 s command timeout
    expect(cookiesNamed(res.headers, "rs.sid")[0]?.maxAge).toBe(7200 + 720 + 2 + 5 + 1);
  });
});

describe("onStoreError", () => {
  let dead: RedisSessions;

  beforeAll(async () => {
    // Nothing listens on this port: every command fails at once (connection refused).
    dead = stores.track(
      new RedisSessions({ redis: `redis://127.0.0.1:${await freePort()}`, timeout: 300 }),
    );
  });

  it.each(HOSTS)(
    '"error" (default) answers 503 with a code under %s, no Set-Cookie',
    async (host) => {
      const web = scenarioApp(host, { app: "webapp", store: dead }).app;
      const token = "A".repeat(64);
      const res = await request(web).get("/get").set("Cookie", `rs.sid=${token}`).expect(503);
      expect(res.body.code).toMatch(/^ERS_STORE_(UNAVAILABLE|TIMEOUT)$/);
      expect(setCookieLines(res.headers)).toEqual([]);
      const login = await request(web).post("/upsert").send({ id: "u" }).expect(503);
      expect(setCookieLines(login.headers)).toEqual([]);
    },
  );

  it('"anonymous" reads as logged out but still fails writes, and keeps the cookie', async () => {
    const web = scenarioApp("express4", {
      app: "webapp",
      store: dead,
      onStoreError: "anonymous",
    }).app;
    const cookie = `rs.sid=${"B".repeat(64)}`;
    const res = await request(web).get("/get").set("Cookie", cookie).expect(200);
    expect(res.body).toMatchObject({ session: null, id: null });
    // The token is kept: Redis did not say it is unknown, so the cookie is not cleared.
    expect(res.body.token).toBe("B".repeat(64));
    expect(setCookieLines(res.headers)).toEqual([]);
    const login = await request(web).post("/upsert").set("Cookie", cookie).send({ id: "u" });
    expect(login.status).toBe(503);
    expect(setCookieLines(login.headers)).toEqual([]);
    const logout = await request(web).post("/kill").set("Cookie", cookie);
    expect(logout.status).toBe(503);
    expect(setCookieLines(logout.headers)).toEqual([]);
  });

  it('"anonymous" never hides a misconfiguration: a bucket-count mismatch is a 500', async () => {
    const namespace = uniqueNamespace();
    const first = stores.open({ namespace, layout: "cluster", buckets: 60 });
    await first.create({ app: "webapp", id: "u", ip: "1.2.3.4" });
    const other = stores.open({ namespace, layout: "cluster", buckets: 16 });
    const web = scenarioApp("express4", {
      app: "webapp",
      store: other,
      onStoreError: "anonymous",
    }).app;
    const res = await request(web)
      .get("/get")
      .set("Cookie", `rs.sid=${"D".repeat(64)}`);
    expect(res.status).toBe(500);
    expect(res.body.code).toBe("ERS_BUCKETS_MISMATCH");
  });

  it("reaches Express 5's own error handler from an async route with status 503", async () => {
    const web = express();
    web.use(redisSessions({ app: "webapp", store: dead }));
    web.get("/", async (req, res) => {
      res.json(await req.rs.get());
    });
    const res = await request(web)
      .get("/")
      .set("Authorization", `Bearer ${"C".repeat(64)}`);
    expect(res.status).toBe(503);
  });
});

describe("loadSession and requireSession", () => {
  it.each(HOSTS)(
    "under %s load before the route and turn failures into next(err)",
    async (host) => {
      const mw = redisSessions({ app: "webapp", store });
      const required = buildApp(host, mw, { before: [requireSession()] });
      const anon = await request(required).get("/get").expect(401);
      expect(anon.body).toMatchObject({ code: "ERS_NO_SESSION", message: "No session: log in" });
      const { token } = await loginCookie({ app: "webapp" }, "guarded");
      const ok = await request(required).get("/get").set("Cookie", `rs.sid=${token}`).expect(200);
      expect(ok.body.id).toBe("guarded");
      const optional = buildApp(host, mw, { before: [loadSession()] });
      const anonOk = await request(optional).get("/get").expect(200);
      expect(anonOk.body.session).toBeNull();
    },
  );

  it("pass a 503 to next when Redis fails", async () => {
    const dead = stores.track(
      new RedisSessions({ redis: `redis://127.0.0.1:${await freePort()}` }),
    );
    const mw = redisSessions({ app: "webapp", store: dead });
    const web = buildApp("connect", mw, { before: [loadSession()] });
    const res = await request(web).get("/get").set("X-Session-Token", "D".repeat(64));
    expect(res.status).toBe(503);
  });

  it("report a missing middleware instead of crashing", async () => {
    const web = express();
    web.use(requireSession());
    web.use((err: Error, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(500).json({ message: err.message });
    });
    const res = await request(web).get("/").expect(500);
    expect(res.body.message).toMatch(/req\.rs is missing; mount redisSessions\(\)/);
  });
});

describe("mounting", () => {
  it("the same instance twice keeps its req.rs", async () => {
    const first = redisSessions({ app: "first", store });
    const web = express();
    web.use(first, (req, _res, next) => {
      (req as unknown as { marker: unknown }).marker = req.rs;
      next();
    });
    web.use(first);
    web.get("/", (req, res) => {
      res.json({
        app: req.rs.app,
        same: (req as unknown as { marker: unknown }).marker === req.rs,
      });
    });
    expect((await request(web).get("/")).body).toEqual({ app: "first", same: true });
  });

  it("another instance (another app) replaces req.rs: one app's token is no login for another", async () => {
    const shop = redisSessions({ app: "shop", store });
    const backoffice = redisSessions({ app: "backoffice", store, cookie: { name: "admin.sid" } });
    const admin = express.Router();
    admin.use(backoffice);
    admin.get("/whoami", async (req, res) => {
      res.json({ app: req.rs.app, user: (await req.rs.get())?.id ?? null });
    });
    const web = express();
    web.use(shop);
    web.post("/login", async (req, res) => {
      await req.rs.upsert("shopper");
      res.json({ token: req.rs.token });
    });
    web.use("/admin", admin);
    const { token } = (await request(web).post("/login")).body as { token: string };
    for (const headers of [{ cookie: `rs.sid=${token}` }, { authorization: `Bearer ${token}` }]) {
      const res = await request(web).get("/admin/whoami").set(headers);
      expect(res.body).toEqual({ app: "backoffice", user: null });
    }
  });

  it("passes an error thrown by the app function to next", async () => {
    const web = app({
      app: () => {
        throw new Error("no tenant");
      },
    });
    const res = await request(web).get("/get").expect(500);
    expect(res.body.message).toBe("no tenant");
  });

  it("types req.rs for node:http handlers through RequestWithSession", () => {
    const handler = (req: RequestWithSession) => req.rs.token;
    expect(typeof handler).toBe("function");
  });
});
