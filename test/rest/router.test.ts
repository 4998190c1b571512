import { createServer } from "node:http";
import { createRequire } from "node:module";
import connect from "connect";
import express from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ExpressLike,
  RedisSessions,
  type RestSessionsRouter,
  restSessions,
} from "../../src/index.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { freePort, startRedisServer } from "../helpers/redis-server.js";
import { readUntil } from "../helpers/wait.js";

// Express 4 is installed under the alias express4 (untyped): it has Express 5's shape for this use.
const express4 = createRequire(import.meta.url)("express4") as typeof express;
const KEY = "test-key-0123456789abcdef";
const OTHER_KEY = "second-key-for-rotation-42";
const TOKEN_RE = /^[0-9A-Za-z]{64}$/;
const UNKNOWN = "a".repeat(64);

const routers: RestSessionsRouter[] = [];
function router(options: Parameters<typeof restSessions>[0] = {}): RestSessionsRouter {
  const r = restSessions({
    redis: redisUrl(),
    namespace: uniqueNamespace("rest"),
    wipe: 0,
    ...options,
  });
  routers.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(routers.map((r) => r.close()));
});

function appWith(r: RestSessionsRouter) {
  const app = express();
  app.use(r);
  return app;
}

describe("rest-sessions routes", () => {
  let app: ReturnType<typeof express>;
  beforeAll(() => {
    app = appWith(router());
  });

  async function create(query = "ip=10.0.0.1", body?: object, id = "user1"): Promise<string> {
    const req = request(app).put(`/webapp/create/${encodeURIComponent(id)}?${query}`);
    const res = body ? await req.send(body) : await req;
    expect(res.status).toBe(200);
    expect(res.body.token).toMatch(TOKEN_RE);
    return res.body.token;
  }

  it("creates with ip, ttl and a JSON body as d; get returns the session in key order", async () => {
    const token = await create("ip=10.0.0.1&ttl=3600", { plan: "pro", n: 1 });
    const res = await request(app).get(`/webapp/get/${token}`).expect(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.headers["cache-control"]).toBe("no-store");
    // redis-sessions' keys in its order, then this package's additions (issue 14).
    expect(Object.keys(res.body)).toEqual([
      "id",
      "r",
      "w",
      "ttl",
      "idle",
      "ip",
      "d",
      "created",
      "auth",
    ]);
    expect(res.body).toMatchObject({ id: "user1", r: 1, w: 1, ttl: 3600, ip: "10.0.0.1" });
    expect(res.body.d).toEqual({ plan: "pro", n: 1 });
  });

  it("accepts POST for create, no_resave in the query, and an empty body as no d", async () => {
    const res = await request(app)
      .post("/webapp/create/user2?ip=10.0.0.2&no_resave=1")
      .send({})
      .expect(200);
    const got = await request(app).get(`/webapp/get/${res.body.token}`).expect(200);
    expect(got.body.no_resave).toBe(true);
    expect(got.body).not.toHaveProperty("d");
  });

  it("uses the caller's address when the query has no ip", async () => {
    const token = await create("");
    const res = await request(app).get(`/webapp/get/${token}`).expect(200);
    expect(res.body.ip).toBe("127.0.0.1");
  });

  it("merges d on set (null deletes a key) and answers {} for unknown tokens", async () => {
    const token = await create("ip=1.2.3.4", { a: 1, b: "x" });
    const res = await request(app)
      .post(`/webapp/set/${token}`)
      .send({ b: null, c: true })
      .expect(200);
    expect(res.body.d).toEqual({ a: 1, c: true });
    expect(res.body.w).toBe(2);
    expect((await request(app).get(`/webapp/get/${UNKNOWN}`).expect(200)).body).toEqual({});
    expect(
      (await request(app).post(`/webapp/set/${UNKNOWN}`).send({ a: 1 }).expect(200)).body,
    ).toEqual({});
    expect((await request(app).post(`/webapp/rotate/${UNKNOWN}`).expect(200)).body).toEqual({});
  });

  it("rotates a token: the old one is dead, the new one carries the session", async () => {
    const token = await create("ip=1.2.3.4", { a: 1 });
    const res = await request(app).post(`/webapp/rotate/${token}`).expect(200);
    expect(res.body.token).toMatch(TOKEN_RE);
    expect((await request(app).get(`/webapp/get/${token}`)).body).toEqual({});
    expect((await request(app).get(`/webapp/get/${res.body.token}`)).body.d).toEqual({ a: 1 });
  });

  it("lists, counts and kills: activity, soapp, soid, kill, killsoid, killall", async () => {
    const local = appWith(router());
    const mk = async (id: string) =>
      (
        await request(local)
          .put(`/shop/create/${encodeURIComponent(id)}?ip=9.9.9.9`)
          .expect(200)
      ).body.token as string;
    const [a1, a2, b1] = [await mk("alice"), await mk("alice"), await mk("bob/with:slash")];
    expect((await request(local).get("/shop/activity?dt=600")).body).toEqual({ activity: 2 });
    const soapp = await request(local).get("/shop/soapp?dt=600").expect(200);
    expect(soapp.body.sessions.map((s: { token: string }) => s.token).sort()).toEqual(
      [a1, a2, b1].sort(),
    );
    const soid = await request(local).get(`/shop/soid/${encodeURIComponent("bob/with:slash")}`);
    expect(soid.body.sessions).toHaveLength(1);
    expect(soid.body.sessions[0]).toMatchObject({ id: "bob/with:slash", token: b1 });
    expect((await request(local).delete(`/shop/kill/${b1}`)).body).toEqual({ kill: 1 });
    expect((await request(local).delete(`/shop/kill/${b1}`)).body).toEqual({ kill: 0 });
    expect((await request(local).delete("/shop/killsoid/alice")).body).toEqual({ kill: 2 });
    await mk("carol");
    await mk("dave");
    expect((await request(local).delete("/shop/killall")).body).toEqual({ kill: 2 });
    expect((await request(local).get("/shop/soapp?dt=600")).body).toEqual({ sessions: [] });
  });

  it("answers /ping with the bare word PONG and /health with Redis' status", async () => {
    const ping = await request(app).get("/ping").expect(200);
    expect(ping.text).toBe("PONG");
    expect(ping.headers["content-type"]).toMatch(/^text\/plain/);
    const health = await request(app).get("/health").expect(200);
    expect(health.body).toMatchObject({ status: "ok", redis: "up" });
    expect(typeof health.body.latencyMs).toBe("number");
  });
});

describe("errors", () => {
  let app: ReturnType<typeof express>;
  let token: string;
  beforeAll(async () => {
    app = appWith(router({ bodyLimit: 1024, maxDataBytes: 200 }));
    token = (await request(app).put("/webapp/create/u?ip=1.1.1.1").expect(200)).body.token;
  });

  const cases: [string, () => request.Test, number, string, string][] = [
    [
      "app too short",
      () => request(app).get(`/ab/get/${UNKNOWN}`),
      400,
      "invalidFormat",
      "ERS_INVALID_APP",
    ],
    [
      "bad token",
      () => request(app).get("/webapp/get/nope"),
      400,
      "invalidFormat",
      "ERS_INVALID_TOKEN",
    ],
    [
      "ttl < 10",
      () => request(app).put("/webapp/create/u?ip=1.1.1.1&ttl=5"),
      400,
      "invalidValue",
      "ERS_INVALID_TTL",
    ],
    [
      "ttl not a number",
      () => request(app).put("/webapp/create/u?ip=1.1.1.1&ttl=abc"),
      400,
      "invalidValue",
      "ERS_INVALID_TTL",
    ],
    [
      "empty ip",
      () => request(app).put("/webapp/create/u?ip="),
      400,
      "missingParameter",
      "ERS_MISSING_IP",
    ],
    [
      "ip too long",
      () => request(app).put(`/webapp/create/u?ip=${"1".repeat(40)}`),
      400,
      "invalidFormat",
      "ERS_INVALID_IP",
    ],
    [
      "dt missing",
      () => request(app).get("/webapp/activity"),
      400,
      "invalidValue",
      "ERS_INVALID_DELTATIME",
    ],
    [
      "dt too small",
      () => request(app).get("/webapp/soapp?dt=5"),
      400,
      "invalidValue",
      "ERS_INVALID_DELTATIME",
    ],
    [
      "set without body",
      () => request(app).post(`/webapp/set/${UNKNOWN}`),
      400,
      "missingParameter",
      "ERS_MISSING_D",
    ],
    [
      "set with text body",
      () => request(app).post(`/webapp/set/${UNKNOWN}`).type("text").send("a=1"),
      400,
      "missingParameter",
      "ERS_MISSING_D",
    ],
    [
      "set with {}",
      () => request(app).post(`/webapp/set/${UNKNOWN}`).send({}),
      400,
      "invalidValue",
      "ERS_EMPTY_D",
    ],
    [
      "set with an array",
      () => request(app).post(`/webapp/set/${UNKNOWN}`).send([1]),
      400,
      "invalidValue",
      "ERS_INVALID_D",
    ],
    [
      "nested d value",
      () =>
        request(app)
          .post(`/webapp/set/${UNKNOWN}`)
          .send({ a: { b: 1 } }),
      400,
      "invalidValue",
      "ERS_INVALID_D_VALUE",
    ],
    [
      "invalid JSON",
      () => request(app).post(`/webapp/set/${UNKNOWN}`).type("json").send('{"a":'),
      400,
      "invalidFormat",
      "ERS_INVALID_JSON",
    ],
    [
      "JSON scalar",
      () => request(app).post(`/webapp/set/${UNKNOWN}`).type("json").send("42"),
      400,
      "invalidFormat",
      "ERS_INVALID_JSON",
    ],
    [
      "malformed URL",
      () => request(app).get("/webapp/get/%E0%A4%A"),
      400,
      "badRequest",
      "ERS_BAD_REQUEST",
    ],
    [
      "body over bodyLimit",
      () =>
        request(app)
          .post(`/webapp/set/${UNKNOWN}`)
          .send({ a: "x".repeat(2000) }),
      413,
      "limitExceeded",
      "ERS_BODY_TOO_LARGE",
    ],
    [
      "d over maxDataBytes",
      () =>
        request(app)
          .post(`/webapp/set/${token}`)
          .send({ a: "x".repeat(300) }),
      413,
      "limitExceeded",
      "ERS_D_TOO_LARGE",
    ],
    [
      "unknown route",
      () => request(app).get("/nothing/here/at/all"),
      404,
      "notFound",
      "ERS_NOT_FOUND",
    ],
    ["wrong method", () => request(app).get("/webapp/create/u"), 404, "notFound", "ERS_NOT_FOUND"],
  ];

  it.each(cases)("%s", async (_label, send, status, name, code) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.body).toEqual({ name, message: expect.any(String), code });
  });

  it("keeps redis-sessions' messages verbatim", async () => {
    const res = await request(app).post(`/webapp/set/${UNKNOWN}`).send({});
    expect(res.body.message).toBe("d must containt at least one key.");
    const app2 = await request(app).get(`/ab/get/${UNKNOWN}`);
    expect(app2.body.message).toBe("Invalid app format");
  });

  it("sends the default 64 KiB limit: 60 kB passes the parser, 70 kB is a 413", async () => {
    const big = appWith(router({ maxDataBytes: 1_000_000 }));
    const t = (await request(big).put("/webapp/create/u?ip=1.1.1.1").expect(200)).body.token;
    await request(big)
      .post(`/webapp/set/${t}`)
      .send({ a: "x".repeat(60_000) })
      .expect(200);
    const res = await request(big)
      .post(`/webapp/set/${t}`)
      .send({ a: "x".repeat(70_000) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("ERS_BODY_TOO_LARGE");
  });

  it("refuses bad options", () => {
    expect(() => restSessions({ admin: true, express: express as unknown as ExpressLike })).toThrow(
      /admin dashboard needs an API key/,
    );
    expect(() => restSessions({ apiKey: "" })).toThrow(/apiKey/);
    expect(() => restSessions({ apiKey: ["ok-key", " spaced"] })).toThrow(/apiKey/);
    expect(() => restSessions({ apiKey: [] })).toThrow(/must not be an empty list/);
    expect(() => restSessions({ bodyLimit: 1.5 })).toThrow(/bodyLimit/);
  });

  it("refuses unknown options by name, with a hint, before it opens a connection", async () => {
    const port = await freePort();
    const open = (options: object) => () => {
      // Tracked, so that a router made by mistake is closed all the same.
      routers.push(restSessions({ host: "127.0.0.1", port, ...options } as never));
    };
    expect(open({ url: `redis://127.0.0.1:${port}` })).toThrow(
      'unknown option "url"; use "redis" for a URL',
    );
    expect(open({ prot: port })).toThrow('unknown option "prot"; did you mean "port"?');
    expect(open({ apikey: KEY })).toThrow('unknown option "apikey"; did you mean "apiKey"?');
    expect(open({ redis: `redis:/127.0.0.1:${port}` })).toThrow('option "redis" must be');
    const store = new RedisSessions({ host: "127.0.0.1", port, wipe: 0 });
    try {
      expect(() => restSessions({ store, namespace: "other" })).toThrow(
        'option "namespace" has no effect with "store"',
      );
    } finally {
      await store.quit();
    }
  });

  it("gives the store only the store's options, and keeps its own", async () => {
    const namespace = uniqueNamespace("split");
    const r = router({
      namespace,
      apiKey: KEY,
      bodyLimit: 1000,
      admin: true,
      protectHealth: true,
      notFound: false,
      express: express as unknown as ExpressLike,
    });
    expect(r.store.options.namespace).toBe(namespace);
    const app = appWith(r);
    await request(app).get("/ping").expect(401);
    const res = await request(app).put("/webapp/create/u1?ip=1.1.1.1").set("x-api-key", KEY);
    expect(res.status).toBe(200);
    expect(res.body.token).toMatch(TOKEN_RE);
  });
});

describe("API key", () => {
  let app: ReturnType<typeof express>;
  let token: string;
  beforeAll(async () => {
    app = appWith(router({ apiKey: [KEY, OTHER_KEY] }));
    token = (await request(app).put("/webapp/create/u?ip=1.1.1.1").set("x-api-key", KEY)).body
      .token;
  });

  it("answers 401 without a key, with a wrong key, or with a key of a different length", async () => {
    for (const headers of [
      {},
      { "x-api-key": "wrong" },
      { "x-api-key": `${KEY}x` },
      { authorization: `Basic ${KEY}` },
      { authorization: `Bearer ${KEY.slice(1)}` },
    ]) {
      const res = await request(app).get(`/webapp/get/${token}`).set(headers);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(res.body).toMatchObject({ name: "unauthorized", code: "ERS_UNAUTHORIZED" });
    }
  });

  it("accepts x-api-key and Bearer, and every key of the list", async () => {
    for (const headers of [
      { "x-api-key": KEY },
      { "x-api-key": OTHER_KEY },
      { authorization: `Bearer ${KEY}` },
      { authorization: `bearer ${OTHER_KEY}` },
    ]) {
      const res = await request(app).get(`/webapp/get/${token}`).set(headers);
      expect(res.status).toBe(200);
      expect(res.body.id).toBe("u");
    }
  });

  it("checks the key before reading a body: an oversized body without a key is a 401", async () => {
    const res = await request(app)
      .post(`/webapp/set/${token}`)
      .send({ a: "x".repeat(100_000) });
    expect(res.status).toBe(401);
  });

  it("leaves /ping and /health open unless protectHealth is set", async () => {
    await request(app).get("/ping").expect(200);
    await request(app).get("/health").expect(200);
    const closed = appWith(router({ apiKey: KEY, protectHealth: true }));
    await request(closed).get("/ping").expect(401);
    await request(closed).get("/health").expect(401);
    await request(closed).get("/health").set("x-api-key", KEY).expect(200);
  });
});

describe("mounting", () => {
  it("falls through to the app's own routes with notFound: false", async () => {
    const app = express();
    app.use(router({ notFound: false }));
    app.get("/mine", (_req, res) => {
      res.send("mine");
    });
    expect((await request(app).get("/mine").expect(200)).text).toBe("mine");
    await request(app).get("/ping").expect(200, "PONG");
  });

  it("works under a prefix in Express 4 (built with express4) and in Connect", async () => {
    const e4 = express4();
    e4.use("/rs", router({ express: express4 as unknown as ExpressLike }));
    const res = await request(e4).put("/rs/webapp/create/u?ip=1.1.1.1").send({ a: 1 }).expect(200);
    const got = await request(e4).get(`/rs/webapp/get/${res.body.token}`).expect(200);
    expect(got.body.d).toEqual({ a: 1 });
    await request(e4).get("/rs/webapp/get/bad").expect(400);

    const c = connect();
    // Connect's types know only Node's req/res; the router needs nothing more at runtime.
    c.use("/rs", router() as unknown as connect.NextHandleFunction);
    const server = createServer(c);
    const created = await request(server).post("/rs/webapp/create/u?ip=1.1.1.1").send({ b: 2 });
    expect(created.status).toBe(200);
    const fetched = await request(server).get(`/rs/webapp/get/${created.body.token}`);
    expect(fetched.body.d).toEqual({ b: 2 });
  });

  it("serves a store you pass and leaves it open on close()", async () => {
    const store = new RedisSessions({ redis: redisUrl(), namespace: uniqueNamespace(), wipe: 0 });
    const r = restSessions({ store });
    expect(r.store).toBe(store);
    await r.close();
    expect(await store.ping()).toBe("PONG");
    await store.quit();
  });
});

describe("admin dashboard files", () => {
  it("redirects to admin/ under any prefix and serves the page and assets under a strict CSP", async () => {
    const app = express();
    const r = router({ apiKey: KEY, admin: true });
    app.use("/sessions", r);
    const redirect = await request(app).get("/sessions/admin").expect(302);
    expect(redirect.headers.location).toBe("admin/");
    expect(new URL(String(redirect.headers.location), "http://h/sessions/admin").pathname).toBe(
      "/sessions/admin/",
    );
    const page = await request(app).get("/sessions/admin/").expect(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["content-security-policy"]).toMatch(
      /default-src 'none'; script-src 'self'/,
    );
    expect(page.headers["x-frame-options"]).toBe("DENY");
    expect(page.text).toContain('<script src="admin.js" defer></script>');
    expect(page.text).not.toMatch(/<script>|https?:\/\//);
    for (const script of ["admin.js", "admin-view.js"]) {
      const js = await request(app).get(`/sessions/admin/${script}`).expect(200);
      expect(js.headers["content-type"]).toMatch(/^text\/javascript/);
      expect(js.text).not.toContain("innerHTML");
    }
    await request(app).get("/sessions/admin/admin.css").expect(200).expect("content-type", /css/);
    await request(app).get("/sessions/admin/api/apps").expect(401);
    await request(app).put("/sessions/adminapp/create/u?ip=1.1.1.1").set("x-api-key", KEY);
    const apps = await request(app).get("/sessions/admin/api/apps").set("x-api-key", KEY);
    expect(apps.body).toEqual({ apps: ["adminapp"], partial: false });
    // An app may be called "admin": its routes are not shadowed by the dashboard.
    await request(app).put("/sessions/admin/create/u?ip=1.1.1.1").set("x-api-key", KEY).expect(200);
    const act = await request(app).get("/sessions/admin/activity?dt=60").set("x-api-key", KEY);
    expect(act.body).toEqual({ activity: 1 });
  });

  it("is absent unless enabled", async () => {
    await request(appWith(router({ apiKey: KEY })))
      .get("/admin/")
      .expect(404);
  });
});

describe("Redis down", () => {
  it("answers 503 storeUnavailable while Redis is gone, and recovers when it is back", async () => {
    const redis = await startRedisServer();
    const r = restSessions({ redis: redis.url, wipe: 0, timeout: 300 });
    const app = appWith(r);
    try {
      const token = (await request(app).put("/webapp/create/u?ip=1.1.1.1").expect(200)).body.token;
      await redis.crash();
      const started = Date.now();
      const res = await request(app).get(`/webapp/get/${token}`);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      expect(res.body).toEqual({
        name: "storeUnavailable",
        message: "The session store is unavailable",
        code: expect.stringMatching(/^ERS_STORE_/),
      });
      const health = await request(app).get("/health");
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: "unavailable", redis: "down" });
      expect((await request(app).get("/ping")).status).toBe(503);
      await redis.restart();
      const status = await readUntil(
        async () => (await request(app).get("/health")).status,
        (s) => s === 200,
        { every: 50, what: "/health to answer 200" },
      );
      expect(status).toBe(200);
    } finally {
      await r.close();
      await redis.stop();
    }
  });
});
