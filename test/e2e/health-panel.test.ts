import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, serve } from "../../src/rest/serve.js";
import { chromiumMissing, launchChromium } from "../helpers/chromium.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { until } from "../helpers/wait.js";

// ADMIN_SCREENSHOT=docs/admin.png also refreshes docs/health-panel.png beside it; by default no
// file is written.
const SCREENSHOT = process.env.ADMIN_SCREENSHOT
  ? join(dirname(resolve(process.env.ADMIN_SCREENSHOT)), "health-panel.png")
  : undefined;
const KEY = "health-panel-key-0b9e4f7a";
const missing = chromiumMissing();
if (missing) console.warn(`[health-panel] skipped: ${missing}`);

describe.skipIf(missing !== null)("the dashboard's health panel in headless Chromium", () => {
  const namespace = uniqueNamespace("hp");
  let server: RunningServer;
  let context: BrowserContext;
  let closeBrowser: (() => Promise<void>) | undefined;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    [server, browser] = await Promise.all([
      serve({
        host: "127.0.0.1",
        port: 0,
        router: { redis: redisUrl(), namespace, wipe: 0, apiKey: KEY, admin: true, cachetime: 30 },
        log: false,
        shutdownTimeout: 1000,
        write: () => {},
      }),
      launchChromium({ viewport: { width: 1100, height: 700 } }),
    ]);
    ({ context, close: closeBrowser } = browser);
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(5000);
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
  });

  afterAll(async () => {
    await closeBrowser?.();
    await server?.close();
  });

  const call = (method: string, path: string) =>
    fetch(`${server.url}${path}`, { method, headers: { "x-api-key": KEY } });

  it("shows Redis up, latency, error rate, cache hit rate and the subscriber after login", async () => {
    await until(() => server.store.cacheStats().subscriber === "subscribed", {
      what: "the cache subscriber",
    });
    const tokens: string[] = [];
    for (const id of ["alice", "bob", "carol"]) {
      const res = await call("PUT", `/shop/create/${id}?ip=192.0.2.1`);
      tokens.push(((await res.json()) as { token: string }).token);
    }
    // Each session read twice: a miss from Redis, then a hit from memory.
    for (const token of [...tokens, ...tokens]) {
      expect((await call("GET", `/shop/get/${token}`)).status).toBe(200);
    }

    await page.goto(`${server.url}/admin/`);
    expect(await page.isVisible("#health")).toBe(false);
    await page.fill("#key", KEY);
    await page.click("#login-form button");
    await page.locator("#health").waitFor({ state: "visible" });
    await expect.poll(() => page.textContent("#health-redis")).toBe("up");
    expect(await page.getAttribute("#health-redis", "class")).toBe("ok");
    expect(await page.textContent("#health-p50")).toMatch(/^\d+(\.\d+)? ms$/);
    expect(await page.textContent("#health-p99")).toMatch(/^\d+(\.\d+)? ms$/);
    expect(await page.textContent("#health-errors")).toBe("0.0 %");
    expect(await page.textContent("#health-hits")).toBe("50.0 %");
    expect(await page.textContent("#health-subscriber")).toBe("subscribed");
    expect(await page.textContent("#health-note")).toMatch(
      /^\d+ operations in the last 60 s · PING /,
    );
    if (SCREENSHOT) {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.locator("#health").screenshot({ path: SCREENSHOT });
    }

    await page.click("#logout");
    await page.locator("#login").waitFor({ state: "visible" });
    expect(await page.isVisible("#health")).toBe(false);
    expect(problems).toEqual([]);
  });

  it("renders with textContent only", () => {
    const script = readFileSync(new URL("../../src/rest/admin/health.js", import.meta.url), "utf8");
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
