import type { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CookieOptions, redisSessions } from "../../src/index.js";
import { buildApp, HOSTS, listen, setCookieLines } from "../helpers/apps.js";
import { chromiumMissing, launchChromium } from "../helpers/chromium.js";
import { dumpNamespace, rawClient } from "../helpers/context.js";
import { storePool } from "../helpers/stores.js";

/*
 * Browsers silently drop a cookie whose name has the `__Host-` prefix but carries a Domain, a
 * Path other than "/" or no Secure, and a `__Secure-` one without Secure (RFC 6265bis §4.1.3;
 * browsers match the prefixes case-insensitively). A login would then look successful and not
 * be. A name given as a string is checked at setup; a name returned by a function is checked on
 * each request, and a bad one fails the request (500, typed) instead of sending such a cookie.
 */

const app = "names";
const stores = storePool();
let raw: Redis;

beforeAll(() => {
  raw = rawClient();
});

afterAll(async () => {
  await stores.quitAll();
  raw.disconnect();
});

const refused: [string, CookieOptions][] = [
  ["__Host- with a domain", { name: () => "__Host-sid", domain: "example.com" }],
  ["__Host- with a path other than /", { name: () => "__Host-sid", path: "/app" }],
  ["__Host- without Secure", { name: () => "__Host-sid", secure: false }],
  ["__Secure- without Secure", { name: () => "__Secure-sid", secure: false }],
  ["__HOST- (any case) with a domain", { name: () => "__HOST-sid", domain: "example.com" }],
  ["__secure- (any case) without Secure", { name: () => "__secure-sid", secure: false }],
  ["a name that is not a cookie name", { name: () => "bad name" }],
];

describe("a cookie name returned by a function", () => {
  describe.each(HOSTS)("under %s", (host) => {
    it.each(refused)(
      "%s fails the request with a typed 500 and sets nothing",
      async (_, cookie) => {
        const mw = redisSessions({ app, store: stores.open(), cookie });
        const res = await request(buildApp(host, mw)).post("/upsert").send({ id: "u1" });
        expect(res.status).toBe(500);
        expect(res.body).toMatchObject({
          code: "ERS_INVALID_COOKIE_NAME",
          name: "invalidConfiguration",
        });
        expect(res.body.message).toMatch(/^express-redis-sessions: the cookie\.name function/);
        expect(setCookieLines(res.headers)).toEqual([]);
        expect(await dumpNamespace(raw, mw.store.options.namespace)).toEqual({});
      },
    );

    it.each<[string, CookieOptions, RegExp]>([
      ["__Host- with the defaults", { name: () => "__Host-sid" }, /^__Host-sid=\w{64}; .*Secure/],
      [
        "__Secure- with a domain and a path",
        { name: () => "__Secure-sid", domain: "example.com", path: "/app" },
        /^__Secure-sid=\w{64}; .*Domain=example\.com.*Secure/,
      ],
      ["a plain name", { name: (a) => `${a}.sid` }, /^names\.sid=\w{64}; /],
    ])("%s is sent", async (_, cookie, line) => {
      const mw = redisSessions({ app, store: stores.open(), cookie });
      const res = await request(buildApp(host, mw)).post("/upsert").send({ id: "u1" });
      expect(res.status).toBe(200);
      expect(setCookieLines(res.headers)[0]).toMatch(line);
    });
  });
});

describe("a cookie name given as a string", () => {
  it.each<[string, CookieOptions, string]>([
    [
      "__host- (any case) with a domain",
      { name: "__host-sid", secure: true, domain: "example.com" },
      'option "cookie.domain" must be absent for a __Host- cookie name (received "example.com")',
    ],
    [
      "__SECURE- (any case) without secure",
      { name: "__SECURE-sid" },
      'option "cookie.secure" must be true for a __Secure- cookie name (received "auto")',
    ],
  ])("%s is refused at setup", (_, cookie, message) => {
    expect(() => redisSessions({ app, store: stores.open(), cookie })).toThrow(
      new TypeError(`express-redis-sessions: ${message}`),
    );
  });
});

const missing = chromiumMissing();
if (missing) console.warn(`cookie-names browser test skipped: ${missing}`);

describe.skipIf(missing !== null)("in Chromium", () => {
  it("keeps a __Host- cookie named by a function, and is never handed one it would drop", async () => {
    const good = redisSessions({ app, store: stores.open(), cookie: { name: () => "__Host-a" } });
    const bad = redisSessions({
      app,
      store: stores.open(),
      cookie: { name: () => "__Host-b", path: "/app" },
    });
    const goodSite = await listen(buildApp("express5", good));
    const badSite = await listen(buildApp("express5", bad));
    const browser = await launchChromium();
    try {
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      // localhost is a secure context: Chromium keeps Secure cookies from http://localhost.
      const login = async (site: string) => {
        const base = site.replace("127.0.0.1", "localhost");
        await page.goto(`${base}/noop`);
        const status = await page.evaluate(async () => {
          const res = await fetch("/upsert", { method: "POST", body: '{"id":"u1"}' });
          return res.status;
        });
        const names = (await browser.context.cookies(base)).map((c) => c.name);
        const read = await page.evaluate(async () => {
          const body = (await (await fetch("/get")).json()) as { session?: { id: string } };
          return body.session?.id ?? null;
        });
        return { status, names, read };
      };
      // Cookies are per host, not per port: the refused site goes first.
      expect(await login(badSite.url)).toEqual({ status: 500, names: [], read: null });
      expect(await login(goodSite.url)).toEqual({ status: 200, names: ["__Host-a"], read: "u1" });
    } finally {
      await browser.close();
      await goodSite.close();
      await badSite.close();
    }
  }, 30_000);
});
