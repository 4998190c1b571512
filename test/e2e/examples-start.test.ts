import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { redisUrl } from "../helpers/context.js";
import { findRedisServer, freePort } from "../helpers/redis-server.js";

/*
 * Each example started as `npm start` starts web-login: a real process on a free port against the
 * run's private Redis, driven over HTTP, then stopped with SIGTERM; it must exit by itself with
 * code 0 (no timer or connection left open).
 */

const children: ChildProcess[] = [];
// The tests run concurrently: clean up (after a failure) only once all are done.
afterAll(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

/** Starts an example and resolves once it has printed `count` URLs. */
function start(
  file: string,
  count = 1,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; urls: string[]; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, PORT: "0", REDIS_URL: redisUrl(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(
      () => reject(new Error(`${file} printed no URL: ${out}${err}`)),
      15_000,
    );
    child.stderr?.on("data", (chunk) => {
      err += chunk;
    });
    child.stdout?.on("data", (chunk) => {
      out += chunk;
      const urls = out.match(/http:\/\/127\.0\.0\.1:\d+\//g);
      if (urls && urls.length >= count) {
        clearTimeout(timer);
        resolve({ child, urls, output: () => out + err });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code}: ${out}${err}`));
    });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

describe.concurrent("examples as processes", () => {
  it("web-login (npm start) serves the login form and logs in", async () => {
    const { child, urls } = await start("examples/web-login/server.ts");
    const base = urls[0] ?? "";
    const form = await fetch(`${base}login`);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('action="/login"');
    const login = await fetch(`${base}login`, {
      method: "POST",
      body: new URLSearchParams({ username: "alice", password: "wonderland" }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const profile = await fetch(`${base}profile`, { headers: { cookie } });
    const html = await profile.text();
    expect(html).toContain("Hello, Alice");
    // Log out again, so the run's Redis keeps nothing of this test.
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const out = await fetch(`${base}logout`, {
      method: "POST",
      headers: { cookie },
      body: new URLSearchParams({ _csrf: csrf }),
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    expect(await stop(child)).toBe(0);
  });

  it("passport logs in through passport-local and out again", async () => {
    const { child, urls } = await start("examples/passport/server.ts");
    const base = urls[0] ?? "";
    const login = await fetch(`${base}login`, {
      method: "POST",
      body: new URLSearchParams({ username: "alice", password: "wonderland" }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const html = await (await fetch(base, { headers: { cookie } })).text();
    expect(html).toContain("Hello, Alice");
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const out = await fetch(`${base}logout`, {
      method: "POST",
      headers: { cookie },
      body: new URLSearchParams({ _csrf: csrf }),
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    expect(await stop(child)).toBe(0);
  });

  it("api-token answers 401 without a token", async () => {
    const { child, urls } = await start("examples/api-token/server.ts");
    const res = await fetch(`${urls[0]}api/me`);
    expect(res.status).toBe(401);
    expect(await stop(child)).toBe(0);
  });

  it("cross-platform starts both services", async () => {
    const { child, urls } = await start("examples/cross-platform/server.ts", 3);
    expect(urls).toHaveLength(3); // two services, and the curl line
    expect((await fetch(`${urls[0]}me`)).status).toBe(401);
    expect((await fetch(`${urls[1]}legacy/me`)).status).toBe(401);
    expect(await stop(child)).toBe(0);
  });
});

describe("npm start on a machine without a running Redis", () => {
  it("starts a private redis-server, says so, and serves the login page", async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const { child, urls, output } = await start("examples/web-login/server.ts", 1, {
      REDIS_URL: dead,
    });
    expect(output()).toMatch(
      /Nothing answered at redis:\/\/127\.0\.0\.1:\d+, so a private redis-server/,
    );
    const page = await fetch(urls[0] as string);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<form/i);
    expect(await stop(child)).toBe(0);
  });

  it("starts a private valkey-server on a host that has only Valkey", async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    // A PATH with node and a valkey-server (this machine's server binary under Valkey's name).
    const bin = mkdtempSync(join(tmpdir(), "ers-path-"));
    symlinkSync(process.execPath, join(bin, "node"));
    symlinkSync(findRedisServer(), join(bin, "valkey-server"));
    try {
      const { child, urls, output } = await start("examples/web-login/server.ts", 1, {
        REDIS_URL: dead,
        PATH: bin,
      });
      expect(output()).toMatch(/so a private valkey-server \(pid \d+\) runs at redis:/);
      expect((await fetch(urls[0] as string)).status).toBe(200);
      expect(await stop(child)).toBe(0);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("says how to install Redis when there is no redis-server either", async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    // A PATH that holds node and nothing else (node may live beside redis-server in /usr/bin).
    const bin = mkdtempSync(join(tmpdir(), "ers-path-"));
    symlinkSync(process.execPath, join(bin, "node"));
    const child = spawn(process.execPath, ["--import", "tsx", "examples/web-login/server.ts"], {
      env: { ...process.env, PORT: "0", REDIS_URL: dead, PATH: bin },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (c) => {
      out += c;
    });
    child.stderr?.on("data", (c) => {
      out += c;
    });
    const code = await new Promise((resolve) => child.once("exit", resolve));
    rmSync(bin, { recursive: true, force: true });
    expect(code).toBe(1);
    expect(out).toContain("no redis-server (or valkey-server) is installed");
    expect(out).toContain("apt-get install -y redis-server");
  });
});
