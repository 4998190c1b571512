import { createServer } from "node:http";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp as createApi } from "../../examples/api-token/server.js";
import { createLegacyApp, openLegacyStore } from "../../examples/cross-platform/legacy.js";
import { createApp as createShop, APP as SHOP } from "../../examples/cross-platform/server.js";
import { createApp as createWeb } from "../../examples/web-login/server.js";
import { RedisSessions } from "../../src/index.js";
import { cookiesNamed } from "../helpers/apps.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { freePort } from "../helpers/redis-server.js";
import { storePool } from "../helpers/stores.js";

const stores = storePool();
afterAll(() => stores.quitAll());

const store = <D>(namespace = uniqueNamespace("ex")) => stores.open<D>({ namespace });

describe("examples/web-login", () => {
  let web: ReturnType<typeof createWeb>;
  beforeAll(() => {
    web = createWeb({ store: store() });
  });

  async function login(user: string, password: string, agent = "test-browser") {
    const res = await request(web)
      .post("/login")
      .set("User-Agent", agent)
      .type("form")
      .send({ username: user, password });
    const cookie = cookiesNamed(res.headers, "rs.sid")[0];
    return { res, cookie: cookie ? `rs.sid=${cookie.value}` : "" };
  }

  async function page(path: string, cookie: string) {
    return request(web).get(path).set("Cookie", cookie);
  }

  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

  it("sends visitors without a session to the login form, with security headers", async () => {
    const root = await request(web).get("/").expect(303);
    expect(root.headers.location).toBe("/login");
    const form = await request(web).get("/login").expect(200);
    expect(form.text).toContain('<form method="post" action="/login">');
    expect(form.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(form.headers["set-cookie"]).toBeUndefined();
    expect((await request(web).get("/profile")).headers.location).toBe("/login");
  });

  it("refuses a wrong password without a cookie", async () => {
    const { res, cookie } = await login("alice", "nope");
    expect(res.status).toBe(401);
    expect(res.text).toContain("Wrong user or password.");
    expect(cookie).toBe("");
  });

  it("logs in, counts visits, and lists devices with this one first", async () => {
    const { res, cookie } = await login("alice", "wonderland", "Laptop <script>alert(1)</script>");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile");
    expect(res.headers["cache-control"]).toBe("no-store");
    const first = await page("/profile", cookie);
    expect(first.text).toContain("Hello, Alice");
    expect(first.text).toMatch(/<td id="visits">1<\/td>/);
    const second = await page("/profile", cookie);
    expect(second.text).toMatch(/<td id="visits">2<\/td>/);
    const devices = await page("/devices", cookie);
    expect(devices.text).toContain("1 active session<");
    expect(devices.text).toContain("This device");
    // User-controlled text is escaped, and no token appears in the page.
    expect(devices.text).toContain("Laptop &lt;script&gt;alert(1)&lt;/script&gt;");
    expect(devices.text).not.toContain(cookie.slice("rs.sid=".length));
  });

  it("logs out this device only with the form's CSRF token", async () => {
    const { cookie } = await login("bob", "builder");
    const profile = await page("/profile", cookie);
    const forged = await request(web).post("/logout").set("Cookie", cookie).type("form").send({});
    expect(forged.status).toBe(403);
    const out = await request(web)
      .post("/logout")
      .set("Cookie", cookie)
      .type("form")
      .send({ _csrf: csrfOf(profile.text) });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe("/login?bye=1");
    expect(cookiesNamed(out.headers, "rs.sid")[0]?.maxAge).toBe(0);
    expect((await page("/profile", cookie)).headers.location).toBe("/login");
  });

  it("revokes another device, then logs out everywhere", async () => {
    const laptop = (await login("alice", "wonderland", "Laptop")).cookie;
    const phone = (await login("alice", "wonderland", "Phone")).cookie;
    const tablet = (await login("alice", "wonderland", "Tablet")).cookie;
    const devices = await page("/devices", laptop);
    const handle =
      /<tr class="device" data-handle="([\w-]{22})">\s*<td>Other device<\/td>\s*<td class="browser" title="Phone">Phone</.exec(
        devices.text,
      )?.[1];
    expect(handle).toBeDefined();
    for (const cookie of [laptop, phone, tablet]) {
      expect(devices.text).not.toContain(cookie.slice("rs.sid=".length));
    }
    const csrf = csrfOf(devices.text);
    await request(web)
      .post("/devices/revoke")
      .set("Cookie", laptop)
      .type("form")
      .send({ _csrf: csrf, handle })
      .expect(303);
    expect((await page("/profile", phone)).headers.location).toBe("/login");
    expect((await page("/profile", tablet)).status).toBe(200);
    const all = await request(web)
      .post("/logout-everywhere")
      .set("Cookie", laptop)
      .type("form")
      .send({ _csrf: csrf });
    expect(all.headers.location).toBe("/login?bye=all");
    for (const cookie of [laptop, tablet]) {
      expect((await page("/profile", cookie)).headers.location).toBe("/login");
    }
  });

  it("answers a 503 page when Redis is unreachable", async () => {
    const dead = stores.track(
      new RedisSessions({ redis: `redis://127.0.0.1:${await freePort()}` }),
    );
    const down = createWeb({ store: dead as RedisSessions<never> });
    const res = await request(down)
      .get("/profile")
      .set("Cookie", `rs.sid=${"a".repeat(64)}`);
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.text).toContain("cannot reach the session store");
    expect(res.headers["set-cookie"]).toBeUndefined();
  });
});

describe("examples/api-token", () => {
  let api: ReturnType<typeof createApi>;
  beforeAll(() => {
    api = createApi({ store: store() });
  });

  async function login(username = "alice", password = "wonderland", client = "cli") {
    return request(api).post("/api/login").send({ username, password, client });
  }

  it("answers a token, and no cookie, for good credentials only", async () => {
    const bad = await login("alice", "x");
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: "bad_credentials", message: "Wrong user or password" });
    const res = await login();
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ user: "alice", expiresIn: 86400 });
    expect(res.body.token).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(res.headers["set-cookie"]).toBeUndefined();
  });

  it("accepts the token as a bearer or in X-Session-Token, never as a cookie or query", async () => {
    const { token } = (await login()).body;
    const anon = await request(api).get("/api/me").expect(401);
    expect(anon.body.error).toBe("ERS_NO_SESSION");
    const viaBearer = await request(api).get("/api/me").auth(token, { type: "bearer" });
    expect(viaBearer.body).toMatchObject({ user: "alice", data: { name: "Alice" } });
    await request(api).get("/api/me").set("X-Session-Token", token).expect(200);
    await request(api).get("/api/me").set("Cookie", `rs.sid=${token}`).expect(401);
    await request(api).get(`/api/me?token=${token}&access_token=${token}`).expect(401);
  });

  it("changes only the allowed keys", async () => {
    const { token } = (await login()).body;
    const ok = await request(api).patch("/api/me").auth(token, { type: "bearer" }).send({
      theme: "dark",
    });
    expect(ok.body.data).toMatchObject({ name: "Alice", theme: "dark" });
    const bad = await request(api).patch("/api/me").auth(token, { type: "bearer" }).send({
      name: "Mallory",
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("bad_patch");
  });

  it("rotates the token: the old one is dead at once", async () => {
    const { token } = (await login()).body;
    const res = await request(api).post("/api/token/rotate").auth(token, { type: "bearer" });
    expect(res.body.token).toMatch(/^[0-9A-Za-z]{64}$/);
    await request(api).get("/api/me").auth(token, { type: "bearer" }).expect(401);
    await request(api).get("/api/me").auth(res.body.token, { type: "bearer" }).expect(200);
  });

  it("lists sessions without tokens, logs out one, then all", async () => {
    const a = (await login("bob", "builder", "phone")).body.token as string;
    const b = (await login("bob", "builder", "laptop")).body.token as string;
    const list = await request(api).get("/api/sessions").auth(a, { type: "bearer" }).expect(200);
    expect(list.body).toHaveLength(2);
    expect(JSON.stringify(list.body)).not.toContain(b);
    expect(list.body.find((s: { current: boolean }) => s.current).client).toBe("phone");
    await request(api).delete("/api/sessions/current").auth(a, { type: "bearer" }).expect(204);
    await request(api).get("/api/me").auth(a, { type: "bearer" }).expect(401);
    const all = await request(api).delete("/api/sessions").auth(b, { type: "bearer" });
    expect(all.body).toEqual({ kill: 1 });
    await request(api).get("/api/me").auth(b, { type: "bearer" }).expect(401);
  });
});

describe("examples/cross-platform", () => {
  let shop: ReturnType<typeof createShop>;
  let legacy: ReturnType<typeof createLegacyApp>;

  beforeAll(() => {
    const namespace = uniqueNamespace("xp");
    shop = createShop({ store: store(namespace) });
    const v4 = stores.track(openLegacyStore(redisUrl(), namespace));
    legacy = createLegacyApp(v4, SHOP);
  });

  it("a session made by the middleware is read and changed by redis-sessions 4.0.0", async () => {
    const login = await request(shop).post("/login").send({ user: "ann" }).expect(201);
    const token = login.body.token as string;
    const cookie = cookiesNamed(login.headers, "rs.sid")[0];
    expect(cookie?.value).toBe(token);
    await request(shop).post("/cart").set("Cookie", `rs.sid=${token}`).expect(200);
    const seen = await request(createServer(legacy)).get("/legacy/me").auth(token, {
      type: "bearer",
    });
    expect(seen.body).toEqual({ user: "ann", d: { cart: 1, points: 0 } });
    await request(createServer(legacy))
      .post("/legacy/points")
      .auth(token, { type: "bearer" })
      .send({ add: 5 })
      .expect(200);
    const back = await request(shop).get("/me").set("Cookie", `rs.sid=${token}`).expect(200);
    expect(back.body).toEqual({ user: "ann", d: { cart: 1, points: 5 } });
  });

  it("a session made by redis-sessions 4.0.0 is served and changed by the middleware", async () => {
    const made = await request(createServer(legacy))
      .post("/legacy/login")
      .send({ user: "ben" })
      .expect(201);
    const token = made.body.token as string;
    const me = await request(shop).get("/me").auth(token, { type: "bearer" }).expect(200);
    expect(me.body).toEqual({ user: "ben", d: { cart: 0, points: 0 } });
    await request(shop).post("/cart").set("Cookie", `rs.sid=${token}`).expect(200);
    const seen = await request(createServer(legacy)).get("/legacy/me").auth(token, {
      type: "bearer",
    });
    expect(seen.body.d).toEqual({ cart: 1, points: 0 });
    // A logout on the new side ends the session for the old side too.
    await request(shop).post("/logout").set("Cookie", `rs.sid=${token}`).expect(200);
    await request(createServer(legacy))
      .get("/legacy/me")
      .auth(token, { type: "bearer" })
      .expect(401);
  });
});
