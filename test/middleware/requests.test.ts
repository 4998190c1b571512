import { randomBytes } from "node:crypto";
import request from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createToken } from "../../src/index.js";
import {
  CountingStore,
  cookiesNamed,
  FakeClock,
  HOSTS,
  scenarioApp,
  setCookieLines,
} from "../helpers/apps.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

const COOKIE = "rs.sid";
const TTL = 7200;
// ttl + its refresh window (ttl / 10) + 2 s of clock allowance: see src/middleware/cookie-lifetime.ts.
const MAX_AGE = TTL + 720 + 2;

describe.each(HOSTS)("req.rs under %s", (host) => {
  const clock = new FakeClock();
  let store: CountingStore;
  let app: ReturnType<typeof scenarioApp>["app"];

  beforeAll(() => {
    store = new CountingStore({
      redis: redisUrl(),
      namespace: uniqueNamespace("mw"),
      wipe: 0,
      clock: clock.read,
    });
    app = scenarioApp(host, { app: "webapp", store }).app;
  });
  afterAll(() => store.quit());
  beforeEach(() => store.reset());

  async function login(id: string, d?: Record<string, unknown>, cookie?: string) {
    const req = request(app).post("/upsert").send({ id, d });
    if (cookie) req.set("Cookie", cookie);
    const res = await req.expect(200);
    const [set] = cookiesNamed(res.headers, COOKIE);
    return { res, token: res.body.token as string, set };
  }

  const withCookie = (token: string) => `${COOKIE}=${token}`;

  describe("anonymous requests", () => {
    it("have no token, no session, no store call and no Set-Cookie", async () => {
      const res = await request(app).get("/get").expect(200);
      expect(res.body).toEqual({ session: null, token: null, id: null, source: null });
      expect(setCookieLines(res.headers)).toEqual([]);
      expect(store.calls).toEqual([]);
    });

    it("cost no store call when the route does not ask for the session", async () => {
      const { token } = await login("lazy");
      store.reset();
      const res = await request(app).get("/noop").set("Cookie", withCookie(token)).expect(200);
      expect(res.body).toEqual({ token, source: "cookie", app: "webapp" });
      expect(store.calls).toEqual([]);
      expect(setCookieLines(res.headers)).toEqual([]);
    });

    it("make set, rotate, soid and killsoid no-ops that touch nothing", async () => {
      const set = await request(app)
        .post("/set")
        .send({ d: { a: 1 } })
        .expect(200);
      expect(set.body).toEqual({ session: null, token: null });
      expect((await request(app).post("/rotate").expect(200)).body).toEqual({ token: null });
      expect((await request(app).get("/soid").expect(200)).body).toEqual({ sessions: [] });
      const killsoid = await request(app).post("/killsoid").expect(200);
      expect(killsoid.body).toEqual({ kill: 0, token: null });
      const kill = await request(app).post("/kill").expect(200);
      expect(kill.body).toEqual({ kill: 0, token: null });
      expect(setCookieLines(kill.headers)).toEqual([]);
      expect(store.calls).toEqual([]);
    });
  });

  describe("upsert (login)", () => {
    it("creates a session, sets a hardened cookie and marks the response no-store", async () => {
      const { res, token, set } = await login("alice", { name: "Alice", plan: "pro" });
      expect(token).toMatch(/^[0-9A-Za-z]{64}$/);
      expect(res.body.id).toBe("alice");
      expect(res.body.session).toMatchObject({ id: "alice", d: { name: "Alice", plan: "pro" } });
      expect(set).toMatchObject({
        value: token,
        path: "/",
        httpOnly: true,
        sameSite: "lax",
        maxAge: MAX_AGE,
      });
      expect(set?.secure).toBeFalsy();
      expect(res.headers["cache-control"]).toBe("no-store");
      const stored = await store.get({ app: "webapp", token });
      expect(stored).toMatchObject({ id: "alice", ttl: TTL, d: { name: "Alice", plan: "pro" } });
    });

    it("returns from upsert the session that a later get() reads", async () => {
      const { res, token } = await login("reader", { n: 1, gone: null } as never);
      const get = await request(app).get("/get").set("Cookie", withCookie(token)).expect(200);
      expect(get.body.session).toEqual({ ...res.body.session, r: 1, idle: 0 });
      expect(get.body.session.d).toEqual({ n: 1 });
    });

    it("for the same user merges d into the session and keeps the token", async () => {
      const { token } = await login("bob", { a: "1" });
      store.reset();
      const again = await login("bob", { b: "2" }, withCookie(token));
      expect(again.token).toBe(token);
      expect(again.res.body.session.d).toEqual({ a: "1", b: "2" });
      expect(store.calls).toEqual(["get", "set"]);
      expect(again.set).toBeUndefined();
    });

    it("over another user's session issues a new token and kills the old one", async () => {
      const first = await login("mallory", { role: "attacker" });
      const second = await login("victim", { role: "user" }, withCookie(first.token));
      expect(second.token).not.toBe(first.token);
      expect(second.set?.value).toBe(second.token);
      expect(second.res.body.session.d).toEqual({ role: "user" });
      expect(await store.get({ app: "webapp", token: first.token })).toBeNull();
      const old = await request(app).get("/get").set("Cookie", withCookie(first.token));
      expect(old.body.session).toBeNull();
    });

    it("after a planted (unknown) token issues a fresh one: no fixation", async () => {
      const planted = createToken();
      const { token, res } = await login("carol", undefined, withCookie(planted));
      expect(token).not.toBe(planted);
      // One Set-Cookie for our name: the stale-cookie clear was replaced by the new cookie.
      expect(cookiesNamed(res.headers, COOKIE).map((c) => c.value)).toEqual([token]);
      expect(await store.get({ app: "webapp", token: planted })).toBeNull();
    });

    it("honours per-call ttl and no_resave", async () => {
      const res = await request(app)
        .post("/upsert")
        .send({ id: "short", ttl: 60, no_resave: true })
        .expect(200);
      expect(res.body.session).toMatchObject({ ttl: 60, no_resave: true });
      // An absolute lifetime: the cookie gets exactly the seconds left (+1 for whole seconds).
      expect(cookiesNamed(res.headers, COOKIE)[0]?.maxAge).toBe(61);
    });

    it("appends to Set-Cookie lines set before and replaces any Cache-Control", async () => {
      const res = await request(app).post("/upsert?preset").send({ id: "dave" }).expect(200);
      const lines = setCookieLines(res.headers);
      expect(lines.slice(0, 2)).toEqual(["other=1; Path=/", "more=2; Path=/"]);
      expect(lines).toHaveLength(3);
      expect(lines[2]).toMatch(/^rs\.sid=[0-9A-Za-z]{64}; /);
      expect(res.headers["cache-control"]).toBe("no-store");
    });

    it("then rotate in one request sends one cookie, with the final token", async () => {
      const res = await request(app).post("/upsert?rotate").send({ id: "erin" }).expect(200);
      const cookies = cookiesNamed(res.headers, COOKIE);
      expect(cookies.map((c) => c.value)).toEqual([res.body.token]);
    });

    it("rejects a bad id or d with a 400 before touching Redis", async () => {
      const noId = await request(app).post("/upsert").send({}).expect(400);
      expect(noId.body).toMatchObject({ code: "ERS_MISSING_ID", message: "No id supplied" });
      const badD = await request(app)
        .post("/upsert")
        .send({ id: "x", d: { nested: { a: 1 } } })
        .expect(400);
      expect(badD.body.code).toBe("ERS_INVALID_D_VALUE");
      expect(store.calls).toEqual([]);
      expect(setCookieLines(badD.headers)).toEqual([]);
    });

    it("refuses once the response headers are sent, before creating anything", async () => {
      const res = await request(app).post("/upsert-late").expect(200);
      expect(res.body.error).toMatch(/headers were already sent/);
      expect(store.calls).toEqual([]);
    });
  });

  describe("get", () => {
    it("asks Redis once per request however often it is called", async () => {
      const { token } = await login("memo");
      store.reset();
      const res = await request(app).get("/get-twice").set("Cookie", withCookie(token));
      expect(res.body.same).toBe(true);
      expect(store.calls).toEqual(["get"]);
      // r counts reads: 1 at create, +1 for that one request.
      expect((await store.get({ app: "webapp", token }))?.r).toBe(2);
    });

    it("answers null for an unknown token and clears the stale cookie", async () => {
      const res = await request(app).get("/get").set("Cookie", withCookie(createToken()));
      expect(res.body).toMatchObject({ session: null, token: null, id: null });
      const [cleared] = cookiesNamed(res.headers, COOKIE);
      expect(cleared).toMatchObject({ value: "", maxAge: 0, path: "/" });
      expect(res.headers["cache-control"]).toBe("no-store");
    });
  });

  describe("set", () => {
    it("merges keys, deletes null ones and keeps the rest", async () => {
      const { token } = await login("setter", { a: "1", b: "2" });
      const res = await request(app)
        .post("/set")
        .set("Cookie", withCookie(token))
        .send({ d: { b: null, c: 3 } })
        .expect(200);
      expect(res.body.session.d).toEqual({ a: "1", c: 3 });
      expect((await store.get({ app: "webapp", token }))?.d).toEqual({ a: "1", c: 3 });
    });

    it("answers null for an unknown token and clears the cookie", async () => {
      const res = await request(app)
        .post("/set")
        .set("Cookie", withCookie(createToken()))
        .send({ d: { a: 1 } })
        .expect(200);
      expect(res.body.session).toBeNull();
      expect(cookiesNamed(res.headers, COOKIE)[0]?.maxAge).toBe(0);
    });
  });

  describe("kill (logout)", () => {
    it("ends the session and clears the cookie; the token is dead afterwards", async () => {
      const { token } = await login("leaver");
      const res = await request(app).post("/kill").set("Cookie", withCookie(token)).expect(200);
      expect(res.body).toEqual({ kill: 1, token: null });
      expect(cookiesNamed(res.headers, COOKIE)[0]).toMatchObject({ value: "", maxAge: 0 });
      const reuse = await request(app).get("/get").set("Cookie", withCookie(token));
      expect(reuse.body.session).toBeNull();
      const byHeader = await request(app).get("/get").set("X-Session-Token", token);
      expect(byHeader.body.session).toBeNull();
    });
  });

  describe("rotate", () => {
    it("moves the session to a new token; the old one is dead at once", async () => {
      const { token } = await login("rotor", { keep: "me" });
      const res = await request(app).post("/rotate").set("Cookie", withCookie(token)).expect(200);
      const fresh = res.body.token as string;
      expect(fresh).toMatch(/^[0-9A-Za-z]{64}$/);
      expect(fresh).not.toBe(token);
      expect(cookiesNamed(res.headers, COOKIE)[0]).toMatchObject({
        value: fresh,
        maxAge: MAX_AGE,
      });
      const reuse = await request(app).get("/get").set("Cookie", withCookie(token));
      expect(reuse.body.session).toBeNull();
      const now = await request(app).get("/get").set("Cookie", withCookie(fresh));
      expect(now.body.session).toMatchObject({ id: "rotor", d: { keep: "me" } });
    });

    it("with a header token answers the new token without setting a cookie", async () => {
      const { token } = await login("apirotor");
      const res = await request(app).post("/rotate").set("X-Session-Token", token).expect(200);
      expect(res.body.token).toMatch(/^[0-9A-Za-z]{64}$/);
      expect(setCookieLines(res.headers)).toEqual([]);
    });
  });

  describe("soid and killsoid", () => {
    it("list the user's sessions and log out everywhere", async () => {
      const a = await login("multi", { device: "laptop" });
      const b = await login("multi", { device: "phone" });
      const other = await login("bystander");
      const list = await request(app).get("/soid").set("Cookie", withCookie(a.token)).expect(200);
      const devices = (list.body.sessions as { d: { device: string } }[]).map((s) => s.d.device);
      expect(devices.sort()).toEqual(["laptop", "phone"]);
      const res = await request(app).post("/killsoid").set("Cookie", withCookie(a.token));
      expect(res.body).toEqual({ kill: 2, token: null });
      expect(cookiesNamed(res.headers, COOKIE)[0]?.maxAge).toBe(0);
      for (const t of [a.token, b.token]) {
        const reuse = await request(app).get("/get").set("Cookie", withCookie(t));
        expect(reuse.body.session).toBeNull();
      }
      const alive = await request(app).get("/get").set("Cookie", withCookie(other.token));
      expect(alive.body.session?.id).toBe("bystander");
    });
  });

  describe("activity and soapp", () => {
    it("count users and list sessions of the app", async () => {
      await login("active-user");
      const activity = await request(app).get("/activity?dt=60").expect(200);
      expect(activity.body.activity).toBeGreaterThanOrEqual(1);
      const soapp = await request(app).get("/soapp?dt=60").expect(200);
      const ids = (soapp.body.sessions as { id: string }[]).map((s) => s.id);
      expect(ids).toContain("active-user");
      const bad = await request(app).get("/activity?dt=5").expect(400);
      expect(bad.body.code).toBe("ERS_INVALID_DELTATIME");
    });
  });

  describe("token sources", () => {
    it("read the header, then the bearer token, when there is no cookie", async () => {
      const { token } = await login("headers");
      const viaHeader = await request(app).get("/get").set("X-Session-Token", token);
      expect(viaHeader.body).toMatchObject({ source: "header", id: "headers" });
      const viaBearer = await request(app).get("/get").set("Authorization", `Bearer ${token}`);
      expect(viaBearer.body).toMatchObject({ source: "bearer", id: "headers" });
      // Header tokens never produce cookies, not even when they turn out to be unknown.
      const unknown = await request(app).get("/get").set("X-Session-Token", createToken());
      expect(unknown.body.session).toBeNull();
      expect(setCookieLines(unknown.headers)).toEqual([]);
    });

    it("prefer the cookie, then the header, then the bearer token", async () => {
      const a = await login("first");
      const b = await login("second");
      const c = await login("third");
      const all = await request(app)
        .get("/get")
        .set("Cookie", withCookie(a.token))
        .set("X-Session-Token", b.token)
        .set("Authorization", `Bearer ${c.token}`);
      expect(all.body).toMatchObject({ source: "cookie", id: "first" });
      const two = await request(app)
        .get("/get")
        .set("X-Session-Token", b.token)
        .set("Authorization", `Bearer ${c.token}`);
      expect(two.body).toMatchObject({ source: "header", id: "second" });
    });
  });

  describe("attacks", () => {
    const token = randomBytes(48).toString("base64url").replace(/[-_]/g, "a").slice(0, 64);
    const malformed: [string, string][] = [
      ["63 characters", token.slice(1)],
      ["65 characters", `${token}a`],
      ["a character outside [0-9A-Za-z]", `${token.slice(1)}-`],
      ["a URL-encoded character", `${token.slice(3)}%41`],
      ["an 8 KiB value", "a".repeat(8192)],
      ["nothing", ""],
    ];

    it.each(malformed)("a cookie of %s means no session, no store call, no error", async (_, v) => {
      const res = await request(app).get("/get").set("Cookie", `${COOKIE}=${v}`).expect(200);
      expect(res.body).toMatchObject({ session: null, token: null, source: null });
      expect(store.calls).toEqual([]);
      expect(setCookieLines(res.headers)).toEqual([]);
    });

    it("malformed header and bearer tokens are ignored too", async () => {
      const res = await request(app)
        .get("/get")
        .set("X-Session-Token", `${token}x`)
        .set("Authorization", `Bearer ${token.slice(2)}`)
        .expect(200);
      expect(res.body.token).toBeNull();
      expect(store.calls).toEqual([]);
    });

    it("a forged (well-formed, unknown) token gets no session and no error", async () => {
      const res = await request(app).get("/get").set("Cookie", withCookie(createToken()));
      expect(res.status).toBe(200);
      expect(res.body.session).toBeNull();
      expect(store.calls).toEqual(["get"]);
    });

    it("a duplicated session cookie (cookie tossing) means no session", async () => {
      const { token: real } = await login("tossed");
      store.reset();
      const res = await request(app)
        .get("/get")
        .set("Cookie", `${COOKIE}=${createToken()}; theme=dark; ${COOKIE}=${real}`)
        .expect(200);
      expect(res.body).toMatchObject({ session: null, token: null });
      expect(store.calls).toEqual([]);
    });

    it("the token is never read from the query string", async () => {
      const { token: real } = await login("query");
      store.reset();
      const res = await request(app)
        .get(`/get?token=${real}&rs.sid=${real}&x-session-token=${real}&access_token=${real}`)
        .expect(200);
      expect(res.body).toMatchObject({ session: null, token: null });
      expect(store.calls).toEqual([]);
    });

    it("other cookies around ours do not disturb it", async () => {
      const { token: real } = await login("neighbours");
      const res = await request(app)
        .get("/get")
        .set("Cookie", `a=1; rs.sidx=${createToken()}; ${COOKIE}=${real}; xrs.sid=2`)
        .expect(200);
      expect(res.body.id).toBe("neighbours");
    });
  });

  describe("rolling cookie", () => {
    it("is refreshed once per window while active and cleared after expiry", async () => {
      const { token } = await login("roller");
      const cookie = withCookie(token);
      clock.advance(60);
      const same = await request(app).get("/get").set("Cookie", cookie);
      expect(same.body.id).toBe("roller");
      expect(setCookieLines(same.headers)).toEqual([]);
      // Into the next 720-second window: the first read refreshes, the next one does not.
      clock.advance(720);
      const next = await request(app).get("/get").set("Cookie", cookie);
      expect(cookiesNamed(next.headers, COOKIE)[0]).toMatchObject({
        value: token,
        maxAge: MAX_AGE,
      });
      clock.advance(5);
      const quiet = await request(app).get("/get").set("Cookie", cookie);
      expect(setCookieLines(quiet.headers)).toEqual([]);
      // Idle past the ttl: Redis has dropped it, so the cookie goes too.
      clock.advance(TTL + 2);
      const gone = await request(app).get("/get").set("Cookie", cookie);
      expect(gone.body.session).toBeNull();
      expect(cookiesNamed(gone.headers, COOKIE)[0]?.maxAge).toBe(0);
    });

    it("is refreshed by a write as well as by a read", async () => {
      const { token } = await login("writer");
      clock.advance(1440);
      const res = await request(app)
        .post("/set")
        .set("Cookie", withCookie(token))
        .send({ d: { x: 1 } });
      expect(cookiesNamed(res.headers, COOKIE)[0]?.value).toBe(token);
    });
  });
});
