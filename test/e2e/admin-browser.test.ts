import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions, sessionHandle } from "../../src/index.js";
import { type RunningServer, serve } from "../../src/rest/serve.js";
import { chromiumMissing, launchChromium } from "../helpers/chromium.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

// Written to a temporary folder; ADMIN_SCREENSHOT=docs/admin.png refreshes the one in the docs.
const SCREENSHOT = process.env.ADMIN_SCREENSHOT
  ? resolve(process.env.ADMIN_SCREENSHOT)
  : join(mkdtempSync(join(tmpdir(), "ers-admin-")), "admin.png");
const KEY = "admin-browser-key-5d1c7a20";
const missing = chromiumMissing();
if (missing) console.warn(`[admin-browser] skipped: ${missing}`);

describe.skipIf(missing !== null)("admin dashboard in headless Chromium", () => {
  const namespace = uniqueNamespace("adm");
  let server: RunningServer;
  let store: RedisSessions;
  let context: BrowserContext;
  let closeBrowser: (() => Promise<void>) | undefined;
  let page: Page;
  const problems: string[] = [];
  const foreign: string[] = [];
  const failed: string[] = [];

  beforeAll(async () => {
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    [server, browser] = await Promise.all([
      serve({
        host: "127.0.0.1",
        port: 0,
        router: { redis: redisUrl(), namespace, wipe: 0, apiKey: KEY, admin: true },
        log: false,
        shutdownTimeout: 1000,
        write: () => {},
      }),
      launchChromium({ viewport: { width: 1100, height: 760 } }),
    ]);
    ({ context, close: closeBrowser } = browser);
    store = new RedisSessions({ redis: redisUrl(), namespace, wipe: 0 });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(5000);
    // CSP violations and script errors show up here; the page must load nothing from elsewhere.
    page.on("console", (m) => {
      // Failed responses are checked one by one below (the wrong key's 401 is expected).
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
        problems.push(m.text());
      }
    });
    page.on("response", (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url)) foreign.push(r.url());
    });
  });

  afterAll(async () => {
    await closeBrowser?.();
    await server?.close();
    await store?.quit();
  });

  it("shows only the login form before login", async () => {
    await page.goto(`${server.url}/admin/`);
    await page.locator("#login").waitFor({ state: "visible" });
    // The header's app picker, Refresh and Log out appear only after a login (a stylesheet rule
    // such as \`form { display: flex }\` must not override their \`hidden\` attribute).
    for (const id of ["#app-form", "#refresh", "#logout", "#dashboard"]) {
      expect(await page.isVisible(id), id).toBe(false);
    }
  });

  it("logs in with the key, sees a session made by the store, kills it and sees it gone", async () => {
    const { token } = await store.create({
      app: "shop",
      id: "alice@example.com",
      ip: "203.0.113.10",
      ua: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
      d: { plan: "pro" },
    });
    const others = [
      await store.create({ app: "shop", id: "bob", ip: "198.51.100.4" }),
      await store.create({ app: "shop", id: "bob", ip: "198.51.100.5" }),
      await store.create({ app: "shop", id: "carol", ip: "192.0.2.33" }),
    ];
    await store.get({ app: "shop", token: others[0]?.token ?? "" });
    // Two users last seen 5 and 30 minutes ago (a store with a clock in the past), so that the
    // three activity windows differ.
    for (const [id, ago] of [
      ["dave", 300],
      ["erin", 1800],
    ] as const) {
      const past = new RedisSessions({
        redis: redisUrl(),
        namespace,
        wipe: 0,
        clock: () => Date.now() / 1000 - ago,
      });
      await past.create({ app: "shop", id, ip: "192.0.2.50" });
      await past.quit();
    }

    await page.goto(`${server.url}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin/");
    await page.fill("#key", "not-the-key");
    await page.click("#login-form button");
    await expect.poll(() => page.textContent("#login-error")).toMatch(/refused/);
    expect(await page.isVisible("#dashboard")).toBe(false);

    await page.fill("#key", KEY);
    await page.click("#login-form button");
    // One app in this namespace: the dashboard opens it by itself.
    const row = page.locator(`#sessions tr[data-handle="${sessionHandle(token)}"]`);
    await row.waitFor();
    expect(await row.locator("td").allTextContents()).toEqual([
      sessionHandle(token),
      "alice@example.com",
      "Firefox on Linux",
      expect.stringMatching(/\d/),
      "203.0.113.10",
      expect.stringMatching(/^\d+ s$/),
      "1/1",
      "Kill",
    ]);
    expect(await page.locator("#sessions tbody tr").count()).toBe(6);
    // Handles only: no token of any session anywhere in the page.
    const html = await page.content();
    for (const t of [token, ...others.map((o) => o.token)]) expect(html).not.toContain(t);
    expect(await page.textContent("#count")).toBe("6 sessions");
    expect(await page.isVisible("#sessions-pager")).toBe(false);
    expect(
      await Promise.all(["#act-60", "#act-600", "#act-3600"].map((id) => page.textContent(id))),
    ).toEqual(["3", "4", "5"]);
    expect(await page.locator("#chart rect").count()).toBe(3);

    // The per-user view, opened from the list.
    await page.locator("#sessions a", { hasText: "bob" }).first().click();
    await expect.poll(() => page.locator("#user-sessions tbody tr").count()).toBe(2);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await row.getByRole("button", { name: "Kill" }).click();
    await row.waitFor({ state: "detached" });
    expect(await store.get({ app: "shop", token })).toBeNull();
    await expect.poll(() => page.textContent("#status")).toMatch(/Killed 1 session of alice/);

    page.once("dialog", (d) => {
      void d.accept();
    });
    await page.click("#kill-user");
    await expect.poll(() => page.locator("#sessions tbody tr").count()).toBe(3);
    expect((await store.soid({ app: "shop", id: "bob" })).sessions).toEqual([]);

    page.once("dialog", (d) => {
      void d.dismiss();
    });
    await page.click("#kill-all");
    expect((await store.soid({ app: "shop", id: "carol" })).sessions).toHaveLength(1);
    page.once("dialog", (d) => {
      void d.accept();
    });
    await page.click("#kill-all");
    await page.locator("#sessions-empty").waitFor({ state: "visible" });
    expect((await store.activity({ app: "shop", deltaTime: 60 })).activity).toBe(0);
    expect(await store.get({ app: "shop", token: others[2]?.token ?? "" })).toBeNull();

    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
    expect(failed).toEqual(["401 /admin/api/apps"]);
  });

  it("pages through sessions 50 at a time and counts them, never asking for all", async () => {
    const made = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        store.create({ app: "shop", id: `p${i}`, ip: "192.0.2.7" }),
      ),
    );
    const asked: string[] = [];
    const listen = (r: { url(): string }) => {
      const url = new URL(r.url());
      if (url.pathname.endsWith("/soapp")) asked.push(url.search);
    };
    page.on("request", listen);
    await page.click("#refresh");
    await expect.poll(() => page.textContent("#count")).toBe("120 sessions");
    const rows = page.locator("#sessions tbody tr");
    await expect.poll(() => rows.count()).toBe(50);
    expect(await page.textContent("#sessions-page")).toBe("1\u201350");
    expect(await page.isDisabled("#sessions-newer")).toBe(true);
    const seen = new Set<string>();
    const collect = async () => {
      for (const t of await rows.evaluateAll((trs) =>
        trs.map((tr) => (tr as unknown as { dataset: { handle: string } }).dataset.handle),
      ))
        seen.add(t);
    };
    await collect();
    await page.click("#sessions-older");
    await expect.poll(() => page.textContent("#sessions-page")).toBe("51\u2013100");
    await collect();
    await page.click("#sessions-older");
    await expect.poll(() => page.textContent("#sessions-page")).toBe("101\u2013120");
    await collect();
    expect(await page.isDisabled("#sessions-older")).toBe(true);
    expect(seen).toEqual(new Set(made.map((m) => sessionHandle(m.token))));
    await page.click("#sessions-newer");
    await expect.poll(() => page.textContent("#sessions-page")).toBe("51\u2013100");
    page.off("request", listen);
    // Every list request was a page of 50.
    expect(asked.length).toBeGreaterThanOrEqual(4);
    for (const q of asked) expect(new URLSearchParams(q).get("limit")).toBe("50");
    await store.killall({ app: "shop" });
  });

  it("keeps the key for the tab only and logs out", async () => {
    await page.reload();
    await page.locator("#dashboard").waitFor({ state: "visible" });
    await page.click("#logout");
    await page.locator("#login").waitFor({ state: "visible" });
    // A string, evaluated in the page: this file is type-checked without the DOM library.
    expect(await page.evaluate('sessionStorage.getItem("ers-admin-key")')).toBeNull();
  });

  it("asks which app to open when Redis holds several, and opens the one picked", async () => {
    for (const app of ["blog", "forum"]) await store.create({ app, id: "frank", ip: "192.0.2.9" });
    await page.evaluate("sessionStorage.clear()");
    await page.reload();
    await page.fill("#key", KEY);
    await page.click("#login-form button");
    // Not a blank page: the question is visible, next to the picker that answers it.
    await expect.poll(() => page.isVisible("#app-form")).toBe(true);
    await expect.poll(() => page.locator("text=Pick an app.").isVisible()).toBe(true);
    expect(
      await page
        .locator("#app-list option")
        .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)),
    ).toEqual(["blog", "forum"]);
    await page.fill("#app-input", "forum");
    await page.click("#app-form button");
    await page.locator("#sessions tbody tr").first().waitFor();
    expect(await page.locator("#sessions tbody tr").count()).toBe(1);
  });
});

// The screenshot's folder exists even on a fresh checkout.
mkdirSync(dirname(SCREENSHOT), { recursive: true });
