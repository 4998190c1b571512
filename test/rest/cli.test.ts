import { request as httpRequest } from "node:http";
import { connect as tcpConnect } from "node:net";
import v4module from "redis-sessions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliProcess, runCli, startServer } from "../helpers/cli-process.js";
import { rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { readUntil, until } from "../helpers/wait.js";

// redis-sessions 4 is CommonJS with `exports.default`: Node and Vitest expose it differently.
const RedisSessionsV4 = ((v4module as unknown as { default?: unknown }).default ??
  v4module) as unknown as typeof v4module.default;
type RedisSessionsV4 = InstanceType<typeof RedisSessionsV4>;

const KEY = "cli-test-key-4f0c1d9e7a";
const TOKEN_RE = /^[0-9A-Za-z]{64}$/;

async function call(
  url: string,
  method: string,
  path: string,
  init: { key?: string | null; body?: unknown; raw?: string } = {},
): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (init.key !== null) headers["x-api-key"] = init.key ?? KEY;
  let body: string | undefined;
  if (init.body !== undefined || init.raw !== undefined) {
    headers["content-type"] = "application/json";
    body = init.raw ?? JSON.stringify(init.body);
  }
  const res = await fetch(url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** A request with headers fetch() will not send as given (Host, Origin, Sec-Fetch-Site). */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: { code?: string; [k: string]: unknown } }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("CLI: help and refused configurations", () => {
  it("--help documents every flag and environment variable", async () => {
    const [root, serve] = await Promise.all([runCli(["--help"]), runCli(["serve", "--help"])]);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/serve \[options\]/);
    expect(serve.code).toBe(0);
    for (const word of [
      "--port",
      "--host",
      "--redis ",
      "--redis-host",
      "--redis-port",
      "--namespace",
      "--api-key ",
      "--api-key-file",
      "--admin",
      "--protect-health",
      "--log",
      "--body-limit",
      "--timeout",
      "--wipe",
      "--shutdown-timeout",
      "RS_PORT",
      "RS_HOST",
      "RS_REDISURL",
      "RS_REDISHOST",
      "RS_REDISPORT",
      "RS_NAMESPACE",
      "RS_LOGLEVEL",
      "RS_APIKEY",
      "RS_APIKEY_FILE",
      "RS_ADMIN",
      "SIGTERM",
      "/:app/create/:id",
      "--log-ids",
      "RS_LOG_IDS",
      "localhost, 127.0.0.1 or [::1]",
      "Sec-Fetch-Site",
    ]) {
      expect(serve.stdout).toContain(word);
    }
  });

  it("exits with code 2 and a clear message for unsafe or invalid configurations", async () => {
    const results = await Promise.all([
      runCli(["serve", "--host", "0.0.0.0"]),
      runCli(["serve", "--admin", "--port", "0"]),
      runCli(["serve", "--port", "abc"]),
      runCli(["serve"], { RS_PORT: "70000" }),
      runCli(["serve", "--port", "0", "--api-key-file", "/nonexistent/keys"]),
      runCli(["serve", "--port", "0", "--redis", "redis:/:s3cr3t-e@127.0.0.1:6379"]),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    const [host, admin, port, envPort, file, url] = results.map((r) => r.stderr);
    expect(url).toMatch(/option "redis" must be a Redis URL/);
    expect(url).not.toContain("s3cr3t");
    expect(host).toMatch(/refusing to listen on 0\.0\.0\.0 without an API key/);
    expect(admin).toMatch(/admin dashboard needs an API key/);
    expect(port).toMatch(/--port <port>' argument 'abc' is invalid/);
    expect(envPort).toMatch(/'70000' from env 'RS_PORT' is invalid/);
    expect(file).toMatch(/cannot read --api-key-file/);
  });
});

describe("CLI: serve", () => {
  let redis: RedisServer;
  let server: CliProcess & { url: string };
  let quiet: CliProcess & { url: string };
  const quietNs = uniqueNamespace("cliq");
  const v4s: RedisSessionsV4[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const shared = new URL(redisUrl());
    [server, quiet] = await Promise.all([
      startServer(["--api-key", KEY, "--admin", "--timeout", "400", "--wipe", "0"], {
        RS_REDISURL: redis.url,
        RS_NAMESPACE: "clins",
      }),
      // Everything by environment, as rest-sessions was configured; request logging off.
      startServer([], {
        RS_REDISHOST: shared.hostname,
        RS_REDISPORT: shared.port,
        RS_NAMESPACE: quietNs,
        RS_APIKEY: `old-key-123456,${KEY}`,
        RS_LOGLEVEL: "none",
      }),
    ]);
  });

  afterAll(async () => {
    for (const p of [server, quiet]) if (p?.child.exitCode === null) p.child.kill("SIGKILL");
    await Promise.all(v4s.map((v) => v.quit().catch(() => {})));
    await redis?.stop();
  });

  it("serves every route, with rest-sessions' replies", async () => {
    const u = server.url;
    const created = await call(u, "PUT", "/webapp/create/alice?ip=10.1.1.1&ttl=600", {
      body: { plan: "pro" },
    });
    expect(created.status).toBe(200);
    const token = (created.body as { token: string }).token;
    expect(token).toMatch(TOKEN_RE);
    const got = await call(u, "GET", `/webapp/get/${token}`);
    expect(got.body).toMatchObject({
      id: "alice",
      r: 1,
      w: 1,
      ttl: 600,
      ip: "10.1.1.1",
      d: { plan: "pro" },
    });
    const set = await call(u, "POST", `/webapp/set/${token}`, { body: { plan: null, n: 2 } });
    expect(set.body).toMatchObject({ id: "alice", w: 2, d: { n: 2 } });
    const rotated = await call(u, "POST", `/webapp/rotate/${token}`);
    const token2 = (rotated.body as { token: string }).token;
    expect(token2).toMatch(TOKEN_RE);
    expect((await call(u, "GET", `/webapp/get/${token}`)).body).toEqual({});
    await call(u, "PUT", "/webapp/create/bob?ip=10.1.1.2");
    expect((await call(u, "GET", "/webapp/activity?dt=60")).body).toEqual({ activity: 2 });
    const soapp = (await call(u, "GET", "/webapp/soapp?dt=60")).body as { sessions: unknown[] };
    expect(soapp.sessions).toHaveLength(2);
    const soid = (await call(u, "GET", "/webapp/soid/alice")).body as {
      sessions: { token: string }[];
    };
    expect(soid.sessions.map((s) => s.token)).toEqual([token2]);
    expect((await call(u, "DELETE", `/webapp/kill/${token2}`)).body).toEqual({ kill: 1 });
    expect((await call(u, "DELETE", "/webapp/killsoid/bob")).body).toEqual({ kill: 1 });
    await call(u, "PUT", "/webapp/create/carol?ip=10.1.1.3");
    expect((await call(u, "GET", "/admin/api/apps")).body).toEqual({
      apps: ["webapp"],
      partial: false,
    });
    expect((await call(u, "DELETE", "/webapp/killall")).body).toEqual({ kill: 1 });
    const ping = await call(u, "GET", "/ping", { key: null });
    expect([ping.status, ping.text]).toEqual([200, "PONG"]);
    expect((await call(u, "GET", "/health", { key: null })).body).toMatchObject({ redis: "up" });
    const page = await call(u, "GET", "/admin/", { key: null });
    expect(page.status).toBe(200);
    expect(page.text).toContain("<title>Sessions admin</title>");
  });

  it("answers bad input, missing keys and unknown routes with JSON errors", async () => {
    const u = server.url;
    const cases: [string, string, Parameters<typeof call>[3], number, string][] = [
      ["GET", `/webapp/get/${"x".repeat(64)}`, { key: null }, 401, "ERS_UNAUTHORIZED"],
      ["GET", `/webapp/get/${"x".repeat(64)}`, { key: "wrong" }, 401, "ERS_UNAUTHORIZED"],
      ["GET", "/admin/api/apps", { key: null }, 401, "ERS_UNAUTHORIZED"],
      ["GET", "/webapp/get/short", {}, 400, "ERS_INVALID_TOKEN"],
      ["PUT", "/x/create/u?ip=1.1.1.1", {}, 400, "ERS_INVALID_APP"],
      ["PUT", "/webapp/create/u?ip=1.1.1.1&ttl=3", {}, 400, "ERS_INVALID_TTL"],
      ["GET", "/webapp/activity?dt=abc", {}, 400, "ERS_INVALID_DELTATIME"],
      ["POST", `/webapp/set/${"x".repeat(64)}`, { raw: "{nope" }, 400, "ERS_INVALID_JSON"],
      ["POST", `/webapp/set/${"x".repeat(64)}`, { body: {} }, 400, "ERS_EMPTY_D"],
      [
        "POST",
        `/webapp/set/${"x".repeat(64)}`,
        { body: { a: "y".repeat(70_000) } },
        413,
        "ERS_BODY_TOO_LARGE",
      ],
      ["GET", "/no/such/route/here", {}, 404, "ERS_NOT_FOUND"],
      ["PATCH", "/webapp/killall", {}, 404, "ERS_NOT_FOUND"],
    ];
    for (const [method, path, init, status, code] of cases) {
      const res = await call(u, method, path, init);
      expect({
        method,
        path,
        status: res.status,
        code: (res.body as { code?: string }).code,
      }).toEqual({ method, path, status, code });
    }
  });

  it("shares sessions both ways with redis-sessions@4.0.0 on the same Redis", async () => {
    const u = server.url;
    // redis-sessions 4 has no error listener: a Redis crash later would kill the test process, so
    // it is quit at the end of this test.
    const v4 = new RedisSessionsV4({ options: { url: redis.url }, namespace: "clins", wipe: 0 });
    v4s.push(v4);
    try {
      const rest = (await call(u, "PUT", "/interop/create/ann?ip=10.2.2.2", { body: { a: 1 } }))
        .body as { token: string };
      const seen = await v4.get({ app: "interop", token: rest.token });
      expect(seen).toMatchObject({ id: "ann", ip: "10.2.2.2", d: { a: 1 } });
      const { token } = await v4.create({
        app: "interop",
        id: "ann",
        ip: "10.3.3.3",
        d: { b: "x" },
      });
      const got = await call(u, "GET", `/interop/get/${token}`);
      expect(got.body).toMatchObject({ id: "ann", ip: "10.3.3.3", d: { b: "x" } });
      await call(u, "POST", `/interop/set/${token}`, { body: { c: true } });
      expect((await v4.get({ app: "interop", token }))?.d).toEqual({ b: "x", c: true });
      expect((await v4.soid({ app: "interop", id: "ann" })).sessions).toHaveLength(2);
      expect(await v4.activity({ app: "interop", deltaTime: 60 })).toEqual(
        (await call(u, "GET", "/interop/activity?dt=60")).body,
      );
      expect((await call(u, "DELETE", "/interop/killsoid/ann")).body).toEqual({ kill: 2 });
      expect(await v4.get({ app: "interop", token })).toBeNull();
      expect(await v4.get({ app: "interop", token: rest.token })).toBeNull();
    } finally {
      await v4.quit();
      v4s.length = 0;
    }
  });

  it("answers 503 while Redis is frozen or down, reports it on /health, and recovers", async () => {
    const u = server.url;
    redis.freeze();
    let started = Date.now();
    const frozen = await call(u, "GET", `/webapp/get/${"x".repeat(64)}`);
    redis.thaw();
    expect(Date.now() - started).toBeLessThan(3000);
    expect([frozen.status, (frozen.body as { code: string }).code]).toEqual([
      503,
      "ERS_STORE_TIMEOUT",
    ]);

    await redis.crash();
    started = Date.now();
    const down = await call(u, "PUT", "/webapp/create/u?ip=1.1.1.1");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      name: "storeUnavailable",
      code: expect.stringMatching(/^ERS_STORE_/),
    });
    const health = await call(u, "GET", "/health", { key: null });
    expect([health.status, (health.body as { redis: string }).redis]).toEqual([503, "down"]);
    await server.waitFor(/redis: unavailable/);

    await redis.restart();
    const back = await readUntil(
      () => call(u, "GET", "/health", { key: null }),
      (r) => r.status === 200,
      { every: 50, what: "/health to answer 200" },
    );
    expect(back.status).toBe(200);
    expect((await call(u, "PUT", "/webapp/create/u?ip=1.1.1.1")).status).toBe(200);
    await server.waitFor(/redis: reconnected/);
  });

  it("logs one line per request without tokens, query strings or user ids", async () => {
    const id = encodeURIComponent("alice@example.com");
    const { token } = (await call(server.url, "PUT", `/logapp/create/${id}?ip=10.9.9.9`)).body as {
      token: string;
    };
    await call(server.url, "GET", `/logapp/get/${token}`);
    const line = await server.waitFor(/GET \/logapp\/get\/\S+ 200 [\d.]+ms/);
    expect(line[0]).toContain(`/logapp/get/${token.slice(0, 6)}…`);
    // Percent-encoded, the token is still a token.
    const encoded = [...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");
    expect((await call(server.url, "GET", `/logapp/get/${encoded}`)).status).toBe(200);
    await call(server.url, "GET", `/logapp/soid/${id}`);
    await call(server.url, "DELETE", `/logapp/killsoid/${id}`);
    await server.waitFor(/DELETE \/logapp\/killsoid\/:id 200/);
    const log = server.stderr();
    expect(log.match(new RegExp(`GET /logapp/get/${token.slice(0, 6)}… 200`, "g"))).toHaveLength(2);
    expect(log).not.toContain(token);
    expect(log).not.toContain(encoded.slice(0, 30));
    expect(log).not.toContain("10.9.9.9");
    expect(log).toMatch(/PUT \/logapp\/create\/:id 200/);
    expect(log).toMatch(/GET \/logapp\/soid\/:id 200/);
    expect(log).not.toMatch(/alice/i);
  });

  it("is configured by rest-sessions' environment variables, with logging off", async () => {
    const u = quiet.url;
    const res = await call(u, "PUT", "/envapp/create/u?ip=1.1.1.1", { key: "old-key-123456" });
    expect(res.status).toBe(200);
    expect((await call(u, "GET", "/envapp/soid/u")).status).toBe(200);
    const raw = rawClient();
    try {
      expect(await raw.exists(`${quietNs}:envapp:_sessions`)).toBe(1);
    } finally {
      raw.disconnect();
    }
    expect(quiet.stderr()).toMatch(/listening on/);
    expect(quiet.stderr()).not.toMatch(/envapp/);
    quiet.child.kill("SIGINT");
    expect(await quiet.exited).toBe(0);
    expect(quiet.stderr()).toMatch(/SIGINT: shutting down/);
  });

  it("on SIGTERM lets a request in flight finish, quits Redis and exits with 0", async () => {
    const u = new URL(server.url);
    const { token } = (await call(server.url, "PUT", "/webapp/create/slow?ip=1.1.1.1")).body as {
      token: string;
    };
    const body = JSON.stringify({ done: "yes" });
    const socket = tcpConnect({ host: u.hostname, port: Number(u.port) });
    let reply = "";
    socket.on("data", (c) => {
      reply += c.toString();
    });
    const ended = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `POST /webapp/set/${token} HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    // "100 Continue" proves that the server has the request before the signal.
    await until(() => reply.includes("100 Continue"), { every: 50, what: "100 Continue" });
    expect(reply).toContain("100 Continue");
    server.child.kill("SIGTERM");
    await server.waitFor(/SIGTERM: shutting down/);
    // The listener is closed: new connections are refused while the old request is still open.
    const refused = await new Promise<string>((resolve) => {
      const s = tcpConnect({ host: u.hostname, port: Number(u.port) });
      s.once("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
    socket.write(body);
    await ended;
    const final = reply.slice(reply.lastIndexOf("HTTP/1.1 "));
    expect(final).toMatch(/^HTTP\/1\.1 200/);
    expect(final.toLowerCase()).toContain("connection: close");
    expect(JSON.parse(final.slice(final.indexOf("\r\n\r\n") + 4))).toMatchObject({
      id: "slow",
      d: { done: "yes" },
    });
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toMatch(/stopped: server closed, Redis connection quit/);
  });
});

describe("CLI: serve without an API key", () => {
  let open: CliProcess & { url: string };
  let port: string;
  const ns = uniqueNamespace("clio");

  beforeAll(async () => {
    open = await startServer(["--log-ids"], {
      RS_REDISURL: redisUrl(),
      RS_NAMESPACE: ns,
      RS_WIPE: "0",
    });
    port = new URL(open.url).port;
  });

  afterAll(() => {
    if (open?.child.exitCode === null) open.child.kill("SIGKILL");
  });

  it("answers only requests to loopback names, so DNS rebinding gets nowhere", async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, "[::1]"]) {
      const res = await send(open.url, "GET", "/webapp/activity?dt=60", { host });
      expect(res, host).toMatchObject({ status: 200, body: { activity: 0 } });
    }
    for (const host of [`rebind.example:${port}`, "127.0.0.1.nip.io", `192.168.1.5:${port}`]) {
      for (const [method, path] of [
        ["GET", "/webapp/soapp?dt=60"],
        ["DELETE", "/webapp/killall"],
        ["GET", "/health"],
      ] as const) {
        const res = await send(open.url, method, path, { host });
        expect(res.status, `${host} ${method} ${path}`).toBe(403);
        expect(res.body).toMatchObject({ name: "forbidden", code: "ERS_FORBIDDEN_HOST" });
        expect(res.body.message).toMatch(/localhost, 127\.0\.0\.1 or \[::1\]/);
      }
    }
  });

  it("refuses cross-site browser requests: a page's text/plain POST creates nothing", async () => {
    const host = `127.0.0.1:${port}`;
    for (const headers of [
      { origin: "http://attacker.example" },
      { origin: "null" },
      { origin: `http://localhost:${Number(port) + 1}` },
      { origin: `http://127.0.0.1:${port}`, "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ] as Record<string, string>[]) {
      const res = await send(
        open.url,
        "POST",
        "/csrfapp/create/victim",
        { host, "content-type": "text/plain", ...headers },
        "{}",
      );
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.body).toMatchObject({ name: "forbidden", code: "ERS_FORBIDDEN_ORIGIN" });
    }
    const raw = rawClient();
    try {
      expect(await raw.exists(`${ns}:csrfapp:_sessions`)).toBe(0);
    } finally {
      raw.disconnect();
    }
    // Its own pages, the address bar and clients that are not browsers are served.
    for (const headers of [
      { origin: `http://${host}`, "sec-fetch-site": "same-origin" },
      { "sec-fetch-site": "none" },
      {},
    ] as Record<string, string>[]) {
      const res = await send(open.url, "GET", "/csrfapp/activity?dt=60", { host, ...headers });
      expect(res.status, JSON.stringify(headers)).toBe(200);
    }
  });

  it("logs user ids when started with --log-ids", async () => {
    const id = encodeURIComponent("bob@example.com");
    expect((await call(open.url, "GET", `/idapp/soid/${id}`, { key: null })).status).toBe(200);
    await open.waitFor(/GET \/idapp\/soid\/bob%40example\.com 200/);
  });
});

describe("CLI: the Redis URL in logs", () => {
  it("masks every credential form in the startup line and every log line", async () => {
    const { hostname, port } = new URL(redisUrl());
    const url =
      `redis://user:s3cr3t-a@${hostname}:${port}/0` +
      "?password=s3cr3t-b&sentinelPassword=s3cr3t-c&family=4";
    const servers = await Promise.all([
      startServer(["--redis", url, "--wipe", "0"]),
      startServer(["--wipe", "0"], { RS_REDISURL: `redis://s3cr3t-d@${hostname}:${port}` }),
    ]);
    try {
      const [a, b] = servers as [CliProcess & { url: string }, CliProcess & { url: string }];
      expect(a.stderr()).toContain(
        `(redis redis://user:***@${hostname}:${port}/0?password=***&sentinelPassword=***&family=4,`,
      );
      expect(b.stderr()).toContain(`(redis redis://***@${hostname}:${port},`);
      for (const p of servers) {
        await call(p.url, "GET", "/health", { key: null });
        await call(p.url, "GET", "/webapp/activity?dt=60", { key: null });
        await p.waitFor(/GET \/webapp\/activity \S+/);
        expect(p.stderr()).not.toContain("s3cr3t");
      }
    } finally {
      for (const p of servers) p.child.kill("SIGKILL");
    }
  });
});
