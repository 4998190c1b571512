import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect as tcpConnect } from "node:net";
import express from "express";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Data,
  isRedisSessionsError,
  RedisSessions,
  type RedisSessionsMiddleware,
  type RequestWithSession,
  redisSessions,
  restSessions,
} from "../../src/index.js";
import { checkInvariants } from "./faults/invariants.js";
import { adminClient, type RedisServer, startRedisServer } from "./faults/toolbox.js";

/*
 * Fuzzing of every public input: store parameters, cookie and header values through the
 * middleware, REST paths and bodies. Thousands of generated inputs, valid and hostile (100 kB
 * strings, lone surrogates, prototype keys, wrong types). Pass criteria: never a crash, a hang
 * or a 5xx; every rejection is a typed RedisSessionsError; input that fails validation sends no
 * Redis command (counted on the client); and valid `d` data round-trips exactly.
 */

const APP = "fuzzapp";
const TOKEN = /^[0-9A-Za-z]{64}$/;
const APP_NAME = /^[\w-]{3,20}$/;
/** "Does not hang": far above any real call on loopback, far below a ReDoS. */
const SLOW_MS = 250;

/** Counts the commands a client sends (every ioredis command goes through sendCommand). */
function countCommands(redis: unknown): { n: number } {
  const counter = { n: 0 };
  const client = redis as { sendCommand: (...args: unknown[]) => unknown };
  const original = client.sendCommand.bind(client);
  client.sendCommand = (...args: unknown[]) => {
    counter.n++;
    return original(...args);
  };
  return counter;
}

const huge = "a".repeat(100_000);
const hostileStrings = fc.constantFrom(
  "",
  " ",
  "\n",
  "\u2028",
  "\ud800",
  huge,
  `${huge}\n`,
  "__proto__",
  "constructor",
  "*",
  "{app}",
  "a:b",
  "0",
  "-1",
  "1e3",
  "9".repeat(400),
  "NaN",
  "A".repeat(63),
  "A".repeat(65),
  `${"A".repeat(63)}!`,
);
const junk = fc.oneof(
  fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true }),
  fc.string({ unit: "binary", maxLength: 80 }),
  hostileStrings,
  fc.double(),
  fc.integer(),
);
const goodApp = fc.stringMatching(/^[\w-]{3,20}$/);
const goodToken = fc.stringMatching(/^[0-9A-Za-z]{64}$/);
const goodId = fc
  .string({ unit: "binary", minLength: 1, maxLength: 128 })
  .filter((s) => !/[\n\r\u2028\u2029]/.test(s));
const goodIp = fc.oneof(fc.ipV4(), fc.ipV6());
const dKey = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 16 }),
  fc.constantFrom("__proto__", "constructor", "a:b", "\\", '"', "1", "ü"),
);
const dValue = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
/** A flat object built with defineProperty, so that "__proto__" is a real own key. */
const goodD = fc
  .uniqueArray(fc.tuple(dKey, dValue), {
    minLength: 1,
    maxLength: 6,
    selector: ([k]) => k,
  })
  .map((entries) => {
    const d: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      Object.defineProperty(d, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return d;
  });
const either = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: junk });

/** Percent-encodes the UTF-8 bytes of `s` (encodeURIComponent throws on a lone surrogate). */
function percentEncode(s: string): string {
  let out = "";
  for (const b of Buffer.from(s)) {
    const c = String.fromCharCode(b);
    out += /[\w.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const METHODS = [
  "create",
  "get",
  "set",
  "kill",
  "rotate",
  "activity",
  "soapp",
  "soid",
  "killsoid",
  "killall",
] as const;
const TOKEN_METHODS = new Set(["get", "set", "kill", "rotate"]);

describe("fuzzing", () => {
  let server: RedisServer;
  let raw: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    raw = adminClient(server.url);
  });

  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  it("store parameters: typed rejections only, no Redis command for invalid input, no hang", async () => {
    const store = new RedisSessions({ redis: server.url, namespace: "fz", wipe: 0 });
    const commands = countCommands(store.redis);
    const stats = { calls: 0, resolved: 0, rejected: 0, maxMs: 0 };
    try {
      await store.ping();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...METHODS),
          fc.record(
            {
              app: either(goodApp),
              token: either(goodToken),
              id: either(goodId),
              ip: either(goodIp),
              ttl: either(fc.integer({ min: 10, max: 100_000 })),
              d: either(goodD),
              deltaTime: either(fc.integer({ min: 10, max: 100_000 })),
              dt: junk,
              no_resave: junk,
            },
            { requiredKeys: [] },
          ),
          async (method, params) => {
            const before = commands.n;
            const t0 = performance.now();
            let error: unknown;
            try {
              await (store[method] as (p: unknown) => Promise<unknown>)(params);
            } catch (err) {
              error = err;
            }
            const ms = performance.now() - t0;
            const sent = commands.n - before;
            stats.calls++;
            stats.maxMs = Math.max(stats.maxMs, ms);
            expect(ms).toBeLessThan(SLOW_MS);
            if (error === undefined) {
              stats.resolved++;
              expect(sent).toBeGreaterThan(0);
            } else {
              stats.rejected++;
              expect(isRedisSessionsError(error)).toBe(true);
              const e = error as { name: string; status: number };
              // Redis is up: a store error here would mean input reached Redis and broke it.
              expect(e.name).not.toBe("storeUnavailable");
              expect([400, 413]).toContain(e.status);
              // Only a limit found after merging with the stored d may come from Redis itself.
              if (e.name !== "limitExceeded") expect(sent).toBe(0);
            }
            // An independent oracle on the two simplest rules.
            const badApp = typeof params.app !== "string" || !APP_NAME.test(params.app);
            const badToken = typeof params.token !== "string" || !TOKEN.test(params.token);
            if (badApp || (TOKEN_METHODS.has(method) && badToken)) {
              expect(error).toBeDefined();
              expect(sent).toBe(0);
            }
          },
        ),
        { numRuns: 3000 },
      );
      expect(stats.resolved).toBeGreaterThan(300);
      expect(stats.rejected).toBeGreaterThan(300);
      expect(await checkInvariants(raw, "fz")).toEqual([]);
      console.log(`[bound] fuzz-store: ${JSON.stringify(stats)}`);
    } finally {
      await store.quit();
    }
  });

  it("d round-trips exactly through create, get and merging sets (unicode, lone surrogates, prototype keys)", async () => {
    const store = new RedisSessions({ redis: server.url, namespace: "fzd", wipe: 0 });
    const expectedOf = (entries: [string, string][]) =>
      entries.length
        ? JSON.parse(`{${entries.map(([k, v]) => `${k}:${v}`).join(",")}}`)
        : undefined;
    const apply = (entries: [string, string][], patch: Record<string, unknown>) => {
      const out = entries.map((e) => [...e] as [string, string]);
      for (const key of Object.keys(patch)) {
        const k = JSON.stringify(key);
        const at = out.findIndex((e) => e[0] === k);
        const v = patch[key];
        if (v === null) {
          if (at >= 0) out.splice(at, 1);
        } else if (at >= 0) (out[at] as [string, string])[1] = JSON.stringify(v);
        else out.push([k, JSON.stringify(v)]);
      }
      return out;
    };
    let sets = 0;
    try {
      await fc.assert(
        fc.asyncProperty(goodD, fc.array(goodD, { maxLength: 3 }), async (d, patches) => {
          const { token } = await store.create({ app: APP, id: "u", ip: "1.1.1.1", d: d as Data });
          let entries = apply([], d);
          const got = await store.get({ app: APP, token });
          expect(JSON.stringify(got?.d)).toBe(JSON.stringify(expectedOf(entries)));
          for (const patch of patches) {
            const after = await store.set({ app: APP, token, d: patch as Data });
            entries = apply(entries, patch);
            sets++;
            expect(JSON.stringify(after?.d)).toBe(JSON.stringify(expectedOf(entries)));
          }
          const last = await store.get({ app: APP, token });
          expect(JSON.stringify(last?.d)).toBe(JSON.stringify(expectedOf(entries)));
          await store.kill({ app: APP, token });
        }),
        { numRuns: 400 },
      );
      expect(await checkInvariants(raw, "fzd")).toEqual([]);
      console.log(`[bound] fuzz-d-roundtrip: runs=400 sets=${sets}`);
    } finally {
      await store.quit();
    }
  });

  describe("HTTP", () => {
    let http: Server;
    let port: number;
    let mw: RedisSessionsMiddleware;
    let mwCommands: { n: number };
    let restCommands: { n: number };
    let rest: ReturnType<typeof restSessions>;
    let validToken: string;

    beforeAll(async () => {
      mw = redisSessions({ app: APP, store: { redis: server.url, namespace: "fzm", wipe: 0 } });
      rest = restSessions({ redis: server.url, namespace: "fzr", wipe: 0 });
      mwCommands = countCommands(mw.store.redis);
      restCommands = countCommands(rest.store.redis);
      validToken = (await mw.store.create({ app: APP, id: "u", ip: "1.1.1.1" })).token;
      const app = express();
      app.use("/rest", rest);
      app.use(mw);
      app.get("/me", async (req, res) => {
        const session = await (req as unknown as RequestWithSession).rs.get();
        res.json({ session: session !== null });
      });
      app.use(
        (
          err: { status?: number },
          _req: express.Request,
          res: express.Response,
          _next: express.NextFunction,
        ) => {
          res.status(err.status ?? 500).json({ error: true });
        },
      );
      http = app.listen(0, "127.0.0.1");
      await new Promise((r) => http.once("listening", r));
      port = (http.address() as AddressInfo).port;
    });

    afterAll(async () => {
      await new Promise((r) => http?.close(r));
      await mw?.store.quit();
      await rest?.close();
    });

    /** Sends raw bytes as one HTTP/1.1 request and reads the status (no client-side checks). */
    function rawRequest(head: string, body = ""): Promise<{ status: number; ms: number }> {
      const t0 = performance.now();
      return new Promise((resolve, reject) => {
        const socket = tcpConnect({ host: "127.0.0.1", port });
        let data = "";
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`no answer within 2 s to ${JSON.stringify(head.slice(0, 200))}`));
        }, 2000);
        socket.setEncoding("latin1");
        socket.on("connect", () => {
          // write, not end: a half-closed socket makes Node drop a reply still being computed.
          socket.write(
            `${head}\r\nHost: x\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body, "latin1")}\r\n\r\n${body}`,
            "latin1",
          );
        });
        socket.on("data", (chunk) => {
          data += chunk;
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          clearTimeout(timer);
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
          resolve({ status, ms: performance.now() - t0 });
        });
      });
    }

    /** What a fuzz run sent: requests, those that reached Redis, and the statuses answered. */
    interface ProbeStats {
      requests: number;
      withRedis: number;
      statuses: Record<number, number>;
    }

    /**
     * Sends one raw request and counts it in `stats`; it must be answered, neither with a 5xx
     * nor after a hang. Resolves to the number of Redis commands it caused.
     */
    async function probe(
      stats: ProbeStats,
      commands: { n: number },
      head: string,
      body = "",
    ): Promise<number> {
      const before = commands.n;
      const { status, ms } = await rawRequest(head, body);
      const sent = commands.n - before;
      stats.requests++;
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
      if (sent) stats.withRedis++;
      expect(status).toBeGreaterThanOrEqual(200);
      expect(status).toBeLessThan(500);
      expect(ms).toBeLessThan(1000);
      return sent;
    }

    // Header values as a client could send them: no CR, LF or NUL (those end or break the line).
    const headerValue = fc
      .oneof(
        fc.string({ unit: "binary-ascii", maxLength: 200 }),
        fc.string({ unit: "grapheme", maxLength: 60 }),
        hostileStrings.filter((s) => s.length < 20_000),
        goodToken,
        goodToken.map((t) => ` "${t}" `),
      )
      .map((s) => s.replace(/[\r\n\0]/g, ""));

    it("cookie and token headers: never a 5xx or a hang; Redis is asked only for a token-shaped value", async () => {
      const stats: ProbeStats = { requests: 0, withRedis: 0, statuses: {} };
      await fc.assert(
        fc.asyncProperty(
          fc.record(
            {
              cookie: fc.oneof(
                headerValue,
                fc.tuple(headerValue, headerValue).map(([a, b]) => `rs.sid=${a}; x=${b}`),
                fc.constantFrom(`rs.sid=${"A".repeat(64)}`, `rs.sid=x; rs.sid=${"B".repeat(64)}`),
              ),
              token: headerValue,
              authorization: fc.oneof(
                headerValue,
                headerValue.map((v) => `Bearer ${v}`),
              ),
            },
            { requiredKeys: [] },
          ),
          async (h) => {
            const lines = ["GET /me HTTP/1.1"];
            if (h.cookie !== undefined) lines.push(`Cookie: ${h.cookie}`);
            if (h.token !== undefined) lines.push(`X-Session-Token: ${h.token}`);
            if (h.authorization !== undefined) lines.push(`Authorization: ${h.authorization}`);
            const sent = await probe(stats, mwCommands, lines.join("\r\n"));
            // Redis sees a request only if some header carried a 64-character alphanumeric run.
            const any = `${h.cookie ?? ""} ${h.token ?? ""} ${h.authorization ?? ""}`;
            if (!/[0-9A-Za-z]{64}/.test(any)) expect(sent).toBe(0);
          },
        ),
        { numRuns: 1500 },
      );
      // The well-formed cookie really works (the fuzz is not vacuous).
      const before = mwCommands.n;
      const ok = await rawRequest(`GET /me HTTP/1.1\r\nCookie: rs.sid=${validToken}`);
      expect(ok.status).toBe(200);
      expect(mwCommands.n - before).toBe(1);
      expect(stats.withRedis).toBeGreaterThan(0);
      console.log(`[bound] fuzz-middleware: ${JSON.stringify(stats)}`);
    });

    const segment = fc
      .oneof(
        goodApp,
        goodToken,
        fc.string({ unit: "binary", maxLength: 40 }),
        hostileStrings.filter((s) => s.length < 5000),
        fc.constantFrom("%", "%zz", "%00", "..", "%2F", "%E0%A4%A", "a%20b"),
      )
      .map((s) => (/%/.test(s) ? s : percentEncode(s)));
    const body = fc.oneof(
      fc.json({ maxDepth: 3 }),
      goodD.map((d) => JSON.stringify(d)),
      fc.string({ unit: "binary-ascii", maxLength: 100 }),
      fc.constantFrom("", "{", "[]", "null", '{"__proto__":{"x":1}}', `{"a":"${huge}"}`),
    );

    it("REST paths and bodies: never a 5xx or a hang; Redis is asked only for a valid app name", async () => {
      const stats: ProbeStats = { requests: 0, withRedis: 0, statuses: {} };
      const routes = [
        ["PUT", "create", "id"],
        ["POST", "create", "id"],
        ["GET", "get", "token"],
        ["POST", "set", "token"],
        ["POST", "rotate", "token"],
        ["DELETE", "kill", "token"],
        ["GET", "activity", null],
        ["GET", "soapp", null],
        ["GET", "soid", "id"],
        ["DELETE", "killsoid", "id"],
        ["DELETE", "killall", null],
      ] as const;
      const junkQuery = fc.string({ unit: "binary-ascii", maxLength: 30 });
      // Half the requests follow a real route with mostly valid parts, half are anything.
      const wellFormed = fc
        .constantFrom(...routes)
        .chain(([method, op, last]) =>
          fc.tuple(
            fc.constant(method),
            fc.oneof({ weight: 3, arbitrary: goodApp }, { weight: 1, arbitrary: segment }),
            fc.constant(op),
            last === null
              ? fc.constant(undefined)
              : fc
                  .oneof(last === "token" ? goodToken : goodId, segment)
                  .map((v) => (/%/.test(v) ? v : percentEncode(v))),
            fc.option(
              fc.oneof(fc.constantFrom("ip=10.0.0.1&ttl=60", "dt=60", "dt=x", "ttl=5"), junkQuery),
              { nil: undefined },
            ),
            fc.option(body, { nil: undefined }),
          ),
        );
      const anything = fc.tuple(
        fc.constantFrom("GET", "PUT", "POST", "DELETE"),
        segment,
        fc.constantFrom("create", "get", "set", "rotate", "kill", "soid", "killsoid", "x"),
        fc.option(segment, { nil: undefined }),
        fc.option(junkQuery, { nil: undefined }),
        fc.option(body, { nil: undefined }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(wellFormed, anything),
          async ([method, app, op, last, query, payload]) => {
            const path = `/rest/${app}/${op}${last === undefined ? "" : `/${last}`}`;
            const q = query === undefined ? "" : `?${query.replace(/[\s#]/g, "")}`;
            const head = [`${method} ${path}${q} HTTP/1.1`];
            if (payload !== undefined) head.push("Content-Type: application/json");
            const sent = await probe(stats, restCommands, head.join("\r\n"), payload ?? "");
            let decoded: string | undefined;
            try {
              decoded = decodeURIComponent(app);
            } catch {
              decoded = undefined;
            }
            if (decoded === undefined || !APP_NAME.test(decoded)) expect(sent).toBe(0);
          },
        ),
        { numRuns: 1500 },
      );
      expect(stats.withRedis).toBeGreaterThan(0);
      expect(await checkInvariants(raw, "fzr")).toEqual([]);
      console.log(`[bound] fuzz-rest: ${JSON.stringify(stats)}`);
    });
  });
});
