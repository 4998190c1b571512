import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp as createPassport } from "../../examples/passport/server.js";
import { createApp as createWeb } from "../../examples/web-login/server.js";
import { browserLabel } from "../../examples/web-login/views.js";
import { sessionHandle } from "../../src/index.js";
import { cookiesNamed, FakeClock } from "../helpers/apps.js";
import { uniqueNamespace } from "../helpers/context.js";
import { storePool } from "../helpers/stores.js";

/*
 * The account-security parts of the examples over HTTP: web-login's devices page, revocation by
 * handle, "log out the other devices", the fresh password before "log out everywhere"; and the
 * passport example (passport-local with session: false, then req.rs.upsert).
 */

const stores = storePool();
afterAll(() => stores.quitAll());

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";

describe("examples/web-login account security", () => {
  const clock = new FakeClock();
  let web: ReturnType<typeof createWeb>;
  beforeAll(() => {
    const store = stores.open({ namespace: uniqueNamespace("exa"), clock: clock.read });
    web = createWeb({ store: store as never, freshFor: 300 });
  });

  async function login(user: string, password: string, agent: string) {
    const res = await request(web)
      .post("/login")
      .set("User-Agent", agent)
      .type("form")
      .send({ username: user, password })
      .expect(303);
    const token = cookiesNamed(res.headers, "rs.sid")[0]?.value ?? "";
    return { token, cookie: `rs.sid=${token}` };
  }

  const get = (path: string, cookie: string) => request(web).get(path).set("Cookie", cookie);
  const post = (path: string, cookie: string, form: Record<string, string>) =>
    request(web).post(path).set("Cookie", cookie).type("form").send(form);

  it("labels browsers from their user agent", () => {
    expect(browserLabel(FIREFOX)).toBe("Firefox on Linux");
    expect(browserLabel(IPHONE)).toBe("Safari on iOS");
    expect(browserLabel(null)).toBe("Unknown browser");
    expect(browserLabel("curl/8.5.0")).toBe("curl/8.5.0");
  });

  it("shows each device's browser, login time and last ip, this one flagged", async () => {
    const laptop = await login("alice", "wonderland", FIREFOX);
    await login("alice", "wonderland", IPHONE);
    const html = (await get("/devices", laptop.cookie).expect(200)).text;
    expect(html).toContain("2 active sessions");
    const current = new RegExp(
      `<tr class="current" data-handle="${sessionHandle(laptop.token)}">[\\s\\S]*?Firefox on Linux`,
    );
    expect(html).toMatch(current);
    expect(html).toMatch(/<tr class="device"[^>]*>[\s\S]*?Safari on iOS/);
    const created = new Date(Math.floor(clock.now) * 1000).toISOString().replace(".000", "");
    expect(html).toContain(`<td class="created">${created}</td>`);
    expect(html).toContain('<td class="ip">127.0.0.1</td>');
    expect(html).not.toContain(laptop.token);
  });

  it("refuses a form without the session's CSRF token", async () => {
    const { cookie } = await login("bob", "builder", FIREFOX);
    const res = await post("/devices/revoke-others", cookie, { _csrf: "x".repeat(43) });
    expect(res.status).toBe(403);
  });

  it("cannot revoke another user's device through a handle", async () => {
    const bob = await login("bob", "builder", FIREFOX);
    const carol = await login("alice", "wonderland", IPHONE);
    const csrf = csrfOf((await get("/devices", bob.cookie)).text);
    await post("/devices/revoke", bob.cookie, {
      _csrf: csrf,
      handle: sessionHandle(carol.token),
    }).expect(303);
    expect((await get("/profile", carol.cookie)).status).toBe(200);
  });

  it("logs out the other devices and keeps this one", async () => {
    const one = await login("bob", "builder", FIREFOX);
    const two = await login("bob", "builder", IPHONE);
    const csrf = csrfOf((await get("/devices", one.cookie)).text);
    const res = await post("/devices/revoke-others", one.cookie, { _csrf: csrf }).expect(303);
    expect(res.headers.location).toBe("/devices?note=others");
    expect((await get("/profile", two.cookie)).headers.location).toBe("/login");
    const html = (await get("/devices", one.cookie).expect(200)).text;
    expect(html).toContain("1 active session<");
  });

  it("asks for the password again before revoking devices once the login is old", async () => {
    const main = await login("bob", "builder", FIREFOX);
    const other = await login("bob", "builder", IPHONE);
    const csrf = csrfOf((await get("/devices", main.cookie)).text);
    clock.advance(301);
    for (const [path, form] of [
      ["/devices/revoke-others", {}],
      ["/devices/revoke", { handle: sessionHandle(other.token) }],
    ] as const) {
      const asked = await post(path, main.cookie, { _csrf: csrf, ...form });
      expect(asked.status).toBe(401);
      expect(asked.text).toContain("Confirm your password");
    }
    expect((await get("/profile", other.cookie)).status).toBe(200);
  });

  it("asks for the password again before logging out everywhere once the login is old", async () => {
    const main = await login("alice", "wonderland", FIREFOX);
    const other = await login("alice", "wonderland", IPHONE);
    const csrf = csrfOf((await get("/devices", main.cookie)).text);
    clock.advance(301);
    const asked = await post("/logout-everywhere", main.cookie, { _csrf: csrf });
    expect(asked.status).toBe(401);
    expect(asked.text).toContain("Confirm your password");
    expect((await get("/profile", other.cookie)).status).toBe(200);

    const wrong = await post("/confirm", main.cookie, { _csrf: csrf, password: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain("Wrong password.");
    const ok = await post("/confirm", main.cookie, { _csrf: csrf, password: "wonderland" });
    expect(ok.headers.location).toBe("/devices?note=fresh");

    const done = await post("/logout-everywhere", main.cookie, { _csrf: csrf }).expect(303);
    expect(done.headers.location).toBe("/login?bye=all");
    for (const s of [main, other]) {
      expect((await get("/profile", s.cookie)).headers.location).toBe("/login");
    }
  });
});

describe("examples/passport", () => {
  let app: ReturnType<typeof createPassport>;
  beforeAll(() => {
    app = createPassport({ store: stores.open({ namespace: uniqueNamespace("pp") }) as never });
  });

  it("logs in through passport-local without express-session, then logs out with CSRF", async () => {
    const wrong = await request(app)
      .post("/login")
      .type("form")
      .send({ username: "alice", password: "nope" });
    expect(wrong.status).toBe(302);
    expect(wrong.headers.location).toBe("/?error=1");
    expect(cookiesNamed(wrong.headers, "rs.sid")).toEqual([]);

    const res = await request(app)
      .post("/login")
      .type("form")
      .send({ username: "alice", password: "wonderland" })
      .expect(303);
    const cookie = `rs.sid=${cookiesNamed(res.headers, "rs.sid")[0]?.value}`;
    const home = await request(app).get("/").set("Cookie", cookie).expect(200);
    expect(home.text).toContain("Hello, Alice");
    expect(home.text).toContain('<code id="user-id">u-1001</code>');

    await request(app).post("/logout").set("Cookie", cookie).type("form").send({}).expect(403);
    const out = await request(app)
      .post("/logout")
      .set("Cookie", cookie)
      .type("form")
      .send({ _csrf: csrfOf(home.text) })
      .expect(303);
    expect(cookiesNamed(out.headers, "rs.sid")[0]?.maxAge).toBe(0);
    const after = await request(app).get("/").set("Cookie", cookie).expect(200);
    expect(after.text).toContain("Log in with Passport");
  });
});
