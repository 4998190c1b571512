import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp as createPassportApp } from "../../examples/passport/server.js";
import { createApp } from "../../examples/web-login/server.js";
import { RedisSessions } from "../../src/index.js";
import { listen } from "../helpers/apps.js";
import { chromiumMissing, launchChromium } from "../helpers/chromium.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

/*
 * examples/web-login end to end in headless Chromium (Debian's `chromium` package, driven by
 * playwright-core): log in, see the devices (browser, login time, this one), revoke one, confirm
 * the password once the login is old, log out everywhere.
 */

const missing = chromiumMissing();
if (missing) console.warn(`browser test skipped: ${missing}`);

describe.skipIf(missing !== null)("web-login in Chromium", () => {
  let store: RedisSessions;
  let base: string;
  let close: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let closeBrowser: (() => Promise<void>) | undefined;
  /** Seconds the store's clock runs ahead of this machine's: moves the login into the past. */
  let ahead = 0;

  beforeAll(async () => {
    store = new RedisSessions({
      redis: redisUrl(),
      namespace: uniqueNamespace("br"),
      wipe: 0,
      clock: () => Date.now() / 1000 + ahead,
    });
    ({ url: base, close } = await listen(createApp({ store: store as RedisSessions<never> })));
    ({ context, close: closeBrowser } = await launchChromium());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(5000);
  }, 30_000);

  afterAll(async () => {
    await closeBrowser?.();
    await close?.();
    await store?.quit();
  });

  async function sessionCookie() {
    return (await context.cookies(base)).find((c) => c.name === "rs.sid");
  }

  /** Another device: logs in over plain HTTP and returns its cookie. */
  async function otherDevice(agent = "Phone"): Promise<string> {
    const res = await fetch(`${base}/login`, {
      method: "POST",
      headers: { "user-agent": agent },
      body: new URLSearchParams({ username: "alice", password: "wonderland" }),
      redirect: "manual",
    });
    return (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  }

  async function profileStatusOf(cookie: string): Promise<string | null> {
    const res = await fetch(`${base}/profile`, { headers: { cookie }, redirect: "manual" });
    return res.headers.get("location");
  }

  it("logs in, lists the devices and logs out everywhere", async () => {
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).toBe("/login");
    expect(await sessionCookie()).toBeUndefined();

    await page.fill('input[name="username"]', "alice");
    await page.fill('input[name="password"]', "wonderland");
    await Promise.all([page.waitForURL(`${base}/profile`), page.click("#login")]);
    expect(await page.textContent("h1")).toBe("Hello, Alice");
    expect(await page.textContent("#visits")).toBe("1");
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    // Persistent, and living as long as the session may: ttl + window + allowance.
    expect((cookie?.expires ?? 0) - Date.now() / 1000).toBeGreaterThan(7900);

    const phone = await otherDevice();
    expect(await profileStatusOf(phone)).toBeNull();

    const tablet = await otherDevice(
      "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36",
    );

    await Promise.all([page.waitForURL(`${base}/devices`), page.click("#devices-link")]);
    expect(await page.textContent("#count")).toBe("3 active sessions");
    const current = page.locator("tr.current");
    expect(await current.textContent()).toContain("This device");
    // Headless Chromium's own agent, labelled.
    expect(await current.locator("td.browser").textContent()).toMatch(/^Chrome on Linux$/);
    expect(await current.locator("td.created").textContent()).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await current.locator("td.ip").textContent()).toBe("127.0.0.1");
    expect(await page.textContent("body")).not.toContain(cookie?.value ?? "-");

    // Revoke the Android tablet from its row.
    const row = page.locator("tr.device", { hasText: "Chrome on Android" });
    await Promise.all([
      page.waitForURL(`${base}/devices?note=revoked`),
      row.locator("button.revoke").click(),
    ]);
    expect(await page.textContent("#count")).toBe("2 active sessions");
    expect(await profileStatusOf(tablet)).toBe("/login");
    expect(await profileStatusOf(phone)).toBeNull();

    // Ten minutes later, "log out everywhere" asks for the password first.
    ahead = 600;
    await page.click("#logout-everywhere");
    await page.locator("#confirm").waitFor();
    expect(await profileStatusOf(phone)).toBeNull();
    await page.fill('input[name="password"]', "wonderland");
    await Promise.all([page.waitForURL(`${base}/devices?note=fresh`), page.click("#confirm")]);
    await Promise.all([page.waitForURL(`${base}/login?bye=all`), page.click("#logout-everywhere")]);
    expect(await page.textContent("#message")).toBe("Logged out on all devices.");
    expect(await sessionCookie()).toBeUndefined();
    await page.goto(`${base}/profile`);
    expect(new URL(page.url()).pathname).toBe("/login");
    expect(await profileStatusOf(phone)).toBe("/login");
  });

  it("logs out this device only", async () => {
    ahead = 0;
    await page.goto(`${base}/login`);
    await page.fill('input[name="username"]', "bob");
    await page.fill('input[name="password"]', "builder");
    await Promise.all([page.waitForURL(`${base}/profile`), page.click("#login")]);
    await page.reload();
    expect(await page.textContent("#visits")).toBe("2");
    await Promise.all([page.waitForURL(`${base}/devices`), page.click("#devices-link")]);
    await Promise.all([page.waitForURL(`${base}/login?bye=1`), page.click("#logout-this")]);
    expect(await page.textContent("#message")).toBe("Logged out.");
    expect(await sessionCookie()).toBeUndefined();
  });
});

describe.skipIf(missing !== null)("passport example in Chromium", () => {
  let store: RedisSessions;
  let base: string;
  let close: () => Promise<void>;
  let page: Page;
  let closeBrowser: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    store = new RedisSessions({ redis: redisUrl(), namespace: uniqueNamespace("pp"), wipe: 0 });
    ({ url: base, close } = await listen(createPassportApp({ store: store as never })));
    let context: BrowserContext;
    ({ context, close: closeBrowser } = await launchChromium());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(5000);
  }, 30_000);

  afterAll(async () => {
    await closeBrowser?.();
    await close?.();
    await store?.quit();
  });

  it("logs in with passport-local, is greeted, and logs out", async () => {
    await page.goto(`${base}/`);
    await page.fill('input[name="username"]', "bob");
    await page.fill('input[name="password"]', "wrong");
    await Promise.all([page.waitForURL(`${base}/?error=1`), page.click("#login")]);
    expect(await page.textContent("#message")).toBe("Wrong user or password.");
    await page.fill('input[name="username"]', "bob");
    await page.fill('input[name="password"]', "builder");
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login")]);
    expect(await page.textContent("h1")).toBe("Hello, Bob");
    expect((await store.soid({ app: "passport", id: "u-1002" })).sessions).toHaveLength(1);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#logout")]);
    expect(await page.textContent("h1")).toBe("Log in with Passport");
    expect((await store.soid({ app: "passport", id: "u-1002" })).sessions).toEqual([]);
  });
});
