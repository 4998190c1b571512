import type { IncomingMessage, ServerResponse } from "node:http";
import express from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type NextFunction,
  RedisSessions,
  type RequestWithSession,
  redisSessions,
  requireFresh,
  sessionHandle,
  verifyCsrf,
} from "../../src/index.js";
import { buildApp, cookiesNamed, FakeClock } from "../helpers/apps.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

/*
 * The account-security side of req.rs (issue 14): absolute timeouts, the user agent and last ip,
 * devices and revocation by handle, step-up (requireFresh) and CSRF (verifyCsrf), rotation with
 * a grace period; under Express 5 and 4.
 */

const COOKIE = "rs.sid";
const ABSOLUTE = 3600;
const FRESH = 60;

type Handler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

function send(res: ServerResponse, value: unknown): void {
  res.statusCode = 200;
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify(value));
}

/** Runs `handlers` in turn, as a router would, then answers with what `last` resolves. */
function chain(
  handlers: Handler[],
  last: (req: RequestWithSession, url: URL) => Promise<unknown>,
): Handler {
  return (req, res, next) => {
    let i = 0;
    const step: NextFunction = (err) => {
      if (err) return next(err);
      const h = handlers[i++];
      if (h) return h(req, res, step);
      const url = new URL(req.url ?? "/", "http://localhost");
      last(req as RequestWithSession, url).then((v) => send(res, v), next);
    };
    step();
  };
}

const seen = (req: RequestWithSession) => ({ body: (req as { body?: unknown }).body ?? null });

/** The routes of these tests, by "METHOD path". */
const routes: Record<string, Handler> = {
  "POST /login": chain([], async (req, url) => {
    const absolute = url.searchParams.get("absolute");
    const session = await req.rs.upsert(
      url.searchParams.get("id") ?? "alice",
      undefined,
      absolute === null ? {} : { absolute: Number(absolute) },
    );
    return { session, token: req.rs.token };
  }),
  "GET /session": chain([], async (req) => ({ session: await req.rs.get() })),
  "GET /devices": chain([], async (req) => ({ devices: await req.rs.devices() })),
  "POST /revoke": chain([], async (req, url) => ({
    revoked: await req.rs.revoke(url.searchParams.get("handle") ?? ""),
  })),
  "POST /revoke-others": chain([], async (req) => ({ count: await req.rs.revokeOthers() })),
  "POST /reauth": chain([], async (req) => ({ session: await req.rs.reauthenticated() })),
  "GET /csrf": chain([], async (req) => ({ csrf: await req.rs.csrfToken() })),
  "POST /rotate": chain([], async (req, url) => {
    const grace = url.searchParams.get("grace");
    return { token: await req.rs.rotate(grace === null ? {} : { grace: Number(grace) }) };
  }),
  "GET /fresh": chain([requireFresh(FRESH)], async () => ({ ok: true })),
};
for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]) {
  routes[`${method} /form`] = chain([verifyCsrf({ bodyLimit: 1024 })], async (req) => seen(req));
  routes[`${method} /json`] = chain([express.json(), verifyCsrf()], async (req) => seen(req));
}

function accountRoutes(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  const route = routes[`${req.method} ${path}`];
  if (route) route(req, res, next);
  else next();
}

describe.each(["express5", "express4"] as const)("account security under %s", (host) => {
  const clock = new FakeClock();
  let store: RedisSessions;
  let app: ReturnType<typeof buildApp>;
  const namespace = uniqueNamespace("acct");

  beforeAll(() => {
    store = new RedisSessions({
      redis: redisUrl(),
      namespace,
      wipe: 0,
      clock: clock.read,
    });
    const mw = redisSessions({ app: "webapp", store, absolute: ABSOLUTE });
    app = buildApp(host, mw, { trustProxy: true, before: [accountRoutes] });
  });
  afterAll(() => store.quit());

  async function login(id = "alice", ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0") {
    const res = await request(app)
      .post(`/login?id=${encodeURIComponent(id)}`)
      .set("User-Agent", ua)
      .set("X-Forwarded-For", "198.51.100.7")
      .expect(200);
    const token = res.body.token as string;
    return { token, cookie: `${COOKIE}=${token}`, session: res.body.session };
  }

  describe("upsert", () => {
    it("records the user agent, the ip, created, auth and the absolute end", async () => {
      const { token, session } = await login("ua-user", "Agent/1.0");
      const now = Math.floor(clock.now);
      expect(session).toMatchObject({ created: now, auth: now, expires: now + ABSOLUTE });
      const stored = await store.get({ app: "webapp", token });
      expect(stored).toMatchObject({
        id: "ua-user",
        ip: "198.51.100.7",
        ua: "Agent/1.0",
        created: now,
        auth: now,
        expires: now + ABSOLUTE,
      });
    });

    it("takes a per-call absolute, and refuses a bad one before creating anything", async () => {
      const res = await request(app).post("/login?id=abs-user&absolute=600").expect(200);
      const stored = await store.get({ app: "webapp", token: res.body.token });
      expect(stored?.expires).toBe(Math.floor(clock.now) + 600);
      // The cookie ends with the session (plus 2 s of clock allowance), not at the idle ttl's end.
      expect(String(res.headers["set-cookie"])).toMatch(/Max-Age=602(;|$)/);
      const bad = await request(app).post("/login?id=abs-bad&absolute=5").expect(400);
      expect(bad.body.code).toBe("ERS_INVALID_ABSOLUTE");
      expect((await store.soid({ app: "webapp", id: "abs-bad" })).sessions).toEqual([]);
    });

    it("keeps the request's ip as the session's last one", async () => {
      const { token, cookie } = await login("ip-user");
      clock.advance(10);
      await request(app)
        .get("/session")
        .set("Cookie", cookie)
        .set("X-Forwarded-For", "203.0.113.44")
        .expect(200);
      expect((await store.get({ app: "webapp", token }))?.ip).toBe("203.0.113.44");
    });

    it("ends the session at the absolute end, however active", async () => {
      const { cookie } = await login("abs-end");
      clock.advance(ABSOLUTE - 100);
      const alive = await request(app).get("/session").set("Cookie", cookie).expect(200);
      expect(alive.body.session?.id).toBe("abs-end");
      clock.advance(100);
      const gone = await request(app).get("/session").set("Cookie", cookie).expect(200);
      expect(gone.body.session).toBeNull();
    });
  });

  describe("devices and revocation", () => {
    it("lists this user's sessions by handle, this one flagged, most recent first, no token", async () => {
      const laptop = await login("dev-user", "Mozilla/5.0 (Macintosh) Safari/605.1.15");
      clock.advance(5);
      const phone = await login("dev-user", "Mozilla/5.0 (iPhone) Safari/604.1");
      clock.advance(5);
      await login("someone-else");
      const res = await request(app).get("/devices").set("Cookie", laptop.cookie).expect(200);
      const devices = res.body.devices as Record<string, unknown>[];
      expect(devices).toHaveLength(2);
      // This one was just read (its activity refreshed), so it comes first.
      expect(devices[0]).toMatchObject({ handle: sessionHandle(laptop.token), current: true });
      expect(devices[1]).toEqual({
        handle: sessionHandle(phone.token),
        current: false,
        created: Math.floor(clock.now) - 5,
        lastActive: Math.floor(clock.now) - 5,
        ip: "198.51.100.7",
        ua: "Mozilla/5.0 (iPhone) Safari/604.1",
      });
      expect(res.text).not.toContain(laptop.token);
      expect(res.text).not.toContain(phone.token);
    });

    it("revokes one of this user's sessions by handle, and refuses another user's", async () => {
      const a = await login("rev-a");
      const b = await login("rev-a");
      const other = await login("rev-b");
      const theirs = await request(app)
        .post(`/revoke?handle=${sessionHandle(other.token)}`)
        .set("Cookie", a.cookie)
        .expect(200);
      expect(theirs.body).toEqual({ revoked: false });
      expect(await store.get({ app: "webapp", token: other.token })).not.toBeNull();

      const mine = await request(app)
        .post(`/revoke?handle=${sessionHandle(b.token)}`)
        .set("Cookie", a.cookie)
        .expect(200);
      expect(mine.body).toEqual({ revoked: true });
      expect(await store.get({ app: "webapp", token: b.token })).toBeNull();
      expect(await store.get({ app: "webapp", token: a.token })).not.toBeNull();

      const bad = await request(app).post("/revoke?handle=nope").set("Cookie", a.cookie);
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe("ERS_INVALID_HANDLE");
    });

    it("revoking this session's own handle logs out and clears the cookie", async () => {
      const a = await login("rev-self");
      const res = await request(app)
        .post(`/revoke?handle=${sessionHandle(a.token)}`)
        .set("Cookie", a.cookie)
        .expect(200);
      expect(res.body).toEqual({ revoked: true });
      expect(cookiesNamed(res.headers, COOKIE)[0]?.maxAge).toBe(0);
      expect(await store.get({ app: "webapp", token: a.token })).toBeNull();
    });

    it("revokes the others and keeps this one; without a session, nothing", async () => {
      const keep = await login("rev-others");
      const others = [await login("rev-others"), await login("rev-others")];
      const bystander = await login("rev-bystander");
      const res = await request(app).post("/revoke-others").set("Cookie", keep.cookie).expect(200);
      expect(res.body).toEqual({ count: 2 });
      for (const o of others) expect(await store.get({ app: "webapp", token: o.token })).toBeNull();
      expect(await store.get({ app: "webapp", token: keep.token })).not.toBeNull();
      expect(await store.get({ app: "webapp", token: bystander.token })).not.toBeNull();
      expect((await request(app).post("/revoke-others").expect(200)).body).toEqual({ count: 0 });
      expect((await request(app).get("/devices").expect(200)).body).toEqual({ devices: [] });
    });

    it("revokes the others over several pages of sessions", async () => {
      const keep = await login("rev-many");
      const made = Array.from({ length: 230 }, () =>
        store.create({ app: "webapp", id: "rev-many", ip: "192.0.2.1" }),
      );
      await Promise.all(made);
      const res = await request(app).post("/revoke-others").set("Cookie", keep.cookie).expect(200);
      expect(res.body).toEqual({ count: 230 });
      const left = await store.soid({ app: "webapp", id: "rev-many" });
      expect(left.sessions.map((s) => s.token)).toEqual([keep.token]);
    });
  });

  describe("requireFresh", () => {
    it("answers 401 ERS_NO_SESSION without a session", async () => {
      const res = await request(app).get("/fresh").expect(401);
      expect(res.body.code).toBe("ERS_NO_SESSION");
    });

    it("passes right after login, answers 401 ERS_REAUTHENTICATE once stale, passes after reauthenticated()", async () => {
      const { cookie } = await login("fresh-user");
      expect((await request(app).get("/fresh").set("Cookie", cookie)).status).toBe(200);
      clock.advance(FRESH + 1);
      const stale = await request(app).get("/fresh").set("Cookie", cookie).expect(401);
      expect(stale.body).toMatchObject({
        code: "ERS_REAUTHENTICATE",
        name: "reauthenticationRequired",
      });
      const re = await request(app).post("/reauth").set("Cookie", cookie).expect(200);
      expect(re.body.session.auth).toBe(Math.floor(clock.now));
      expect((await request(app).get("/fresh").set("Cookie", cookie)).status).toBe(200);
    });

    it("asks to reauthenticate for a session without a login time (another client's)", async () => {
      const { token, cookie } = await login("fresh-legacy");
      await store.redis.hdel(`${namespace}:webapp:${token}`, "au");
      const res = await request(app).get("/fresh").set("Cookie", cookie).expect(401);
      expect(res.body.code).toBe("ERS_REAUTHENTICATE");
    });

    it("refuses a bad number of seconds when the guard is made", () => {
      expect(() => requireFresh(0)).toThrow(TypeError);
      expect(() => requireFresh(1.5)).toThrow(/requireFresh/);
    });
  });

  describe("verifyCsrf", () => {
    it("refuses unknown options by name and a bad bodyLimit when the guard is made", () => {
      expect(() => verifyCsrf({ bodylimit: 10 } as never)).toThrow(
        /unknown option "verifyCsrf.bodylimit"; did you mean "verifyCsrf.bodyLimit"/,
      );
      expect(() => verifyCsrf({ bodyLimit: 0 })).toThrow(/bodyLimit/);
    });

    let cookie: string;
    let csrf: string;
    beforeAll(async () => {
      ({ cookie } = await login("csrf-user"));
      csrf = (await request(app).get("/csrf").set("Cookie", cookie).expect(200)).body.csrf;
    });

    it("gives a session one token, the same on every call", async () => {
      expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const again = await request(app).get("/csrf").set("Cookie", cookie).expect(200);
      expect(again.body.csrf).toBe(csrf);
      const other = await login("csrf-other");
      const theirs = await request(app).get("/csrf").set("Cookie", other.cookie).expect(200);
      expect(theirs.body.csrf).not.toBe(csrf);
    });

    it("lets GET and HEAD through without a token", async () => {
      await request(app).get("/form").set("Cookie", cookie).expect(200);
      await request(app).head("/form").set("Cookie", cookie).expect(200);
      await request(app).get("/form").expect(200);
    });

    it.each(["post", "put", "patch", "delete"] as const)(
      "refuses %s without a token",
      async (m) => {
        const res = await request(app)[m]("/form").set("Cookie", cookie).expect(403);
        expect(res.body).toMatchObject({ code: "ERS_CSRF", name: "csrfFailed" });
      },
    );

    it("refuses a wrong token, of the same length or not", async () => {
      const wrong = `${csrf.slice(0, -1)}${csrf.endsWith("A") ? "B" : "A"}`;
      for (const token of [wrong, csrf.slice(1), `${csrf}x`, "x"]) {
        const res = await request(app)
          .post("/form")
          .set("Cookie", cookie)
          .set("x-csrf-token", token)
          .expect(403);
        expect(res.body.code).toBe("ERS_CSRF");
      }
    });

    it("accepts the header, and the _csrf field of a form it reads itself (left on req.body)", async () => {
      await request(app).post("/form").set("Cookie", cookie).set("x-csrf-token", csrf).expect(200);
      const form = await request(app)
        .post("/form")
        .set("Cookie", cookie)
        .type("form")
        .send({ _csrf: csrf, note: "kept" })
        .expect(200);
      expect(form.body.body).toEqual({ _csrf: csrf, note: "kept" });
      const wrong = await request(app)
        .delete("/form")
        .set("Cookie", cookie)
        .type("form")
        .send({ _csrf: "nope" });
      expect(wrong.status).toBe(403);
    });

    it("accepts _csrf of a JSON body a parser read before it", async () => {
      await request(app).post("/json").set("Cookie", cookie).send({ _csrf: csrf }).expect(200);
      await request(app).post("/json").set("Cookie", cookie).send({ _csrf: "x" }).expect(403);
    });

    it("refuses a form over its body limit, and any token without a session", async () => {
      const big = await request(app)
        .post("/form")
        .set("Cookie", cookie)
        .type("form")
        .send({ _csrf: csrf, pad: "x".repeat(2000) });
      expect(big.status).toBe(403);
      const none = await request(app).post("/form").set("x-csrf-token", csrf).expect(403);
      expect(none.body.code).toBe("ERS_CSRF");
    });
  });

  describe("rotate with grace", () => {
    it("keeps the old token working for the grace period only", async () => {
      const { cookie, token } = await login("rot-user");
      const csrf = (await request(app).get("/csrf").set("Cookie", cookie)).body.csrf;
      const res = await request(app).post("/rotate?grace=30").set("Cookie", cookie).expect(200);
      const next = res.body.token as string;
      expect(next).not.toBe(token);
      expect(cookiesNamed(res.headers, COOKIE)[0]?.value).toBe(next);
      const during = await request(app).get("/session").set("Cookie", cookie).expect(200);
      expect(during.body.session?.id).toBe("rot-user");
      clock.advance(31);
      const after = await request(app).get("/session").set("Cookie", cookie).expect(200);
      expect(after.body.session).toBeNull();
      const fresh = await request(app).get("/session").set("Cookie", `${COOKIE}=${next}`);
      expect(fresh.body.session?.id).toBe("rot-user");
      // The rotated session keeps its CSRF token (forms already on screen stay valid).
      const kept = await request(app).get("/csrf").set("Cookie", `${COOKIE}=${next}`);
      expect(kept.body.csrf).toBe(csrf);
    });

    it("kills the old token at once without grace, and refuses a bad grace", async () => {
      const { cookie } = await login("rot-now");
      await request(app).post("/rotate").set("Cookie", cookie).expect(200);
      const old = await request(app).get("/session").set("Cookie", cookie).expect(200);
      expect(old.body.session).toBeNull();
      const other = await login("rot-bad");
      const bad = await request(app).post("/rotate?grace=7200").set("Cookie", other.cookie);
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe("ERS_INVALID_GRACE");
    });
  });
});

describe("the middleware's absolute option", () => {
  it("is refused unless an integer from 10 to ten years", () => {
    for (const absolute of [5, 1.5, "600", 315_360_001]) {
      expect(() => redisSessions({ app: "webapp", absolute } as never)).toThrow(
        /option "absolute"/,
      );
    }
  });
});
