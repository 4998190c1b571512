import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { cookiesNamed, HOSTS, listen, scenarioApp, setCookieLines } from "../helpers/apps.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/wait.js";

/*
 * Redis frozen, killed and restarted under the middleware: every request that touches the
 * session ends within the store's timeout (plus a generous margin) with a 503 and no Set-Cookie,
 * nothing crashes, and service comes back by itself.
 */

const TIMEOUT = 300;
// "Does not hang": the store's timeout plus room for a slow CI machine, far below ioredis' 74 s.
const BOUND = TIMEOUT + 1500;
/** How long service may take to come back by itself. */
const recovery = { ms: 10_000, every: 25, what: "service to come back" };

let server: RedisServer;
let store: RedisSessions;
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  server = await startRedisServer();
  store = new RedisSessions({ redis: server.url, namespace: "faults", wipe: 0, timeout: TIMEOUT });
});

afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await store.quit();
  await server.stop();
});

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await run();
  return { value, ms: performance.now() - start };
}

describe.each(HOSTS)("Redis failures under %s", (host) => {
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ url: base, close } = await listen(scenarioApp(host, { app: "faults", store }).app));
  });
  afterAll(() => close());

  async function login(id: string): Promise<string> {
    const res = await request(base).post("/upsert").send({ id }).expect(200);
    return res.body.token as string;
  }

  async function expectUnavailable(req: () => request.Test, label: string): Promise<number> {
    const { value: res, ms } = await timed(async () => await req());
    expect(res.status, label).toBe(503);
    expect(res.body.code, label).toMatch(/^ERS_STORE_(UNAVAILABLE|TIMEOUT)$/);
    expect(setCookieLines(res.headers), label).toEqual([]);
    expect(ms, label).toBeLessThan(BOUND);
    return ms;
  }

  it("frozen: bounded 503s without cookies, then the same session after thawing", async () => {
    const token = await login("frozen-user");
    const cookie = `rs.sid=${token}`;
    server.freeze();
    try {
      // Everything at once: reads, a login over the session, a logout, a rotation.
      const [login, logout, rotate, ...reads] = await Promise.all([
        expectUnavailable(
          () => request(base).post("/upsert").set("Cookie", cookie).send({ id: "other" }),
          "login",
        ),
        expectUnavailable(() => request(base).post("/kill").set("Cookie", cookie), "logout"),
        expectUnavailable(() => request(base).post("/rotate").set("Cookie", cookie), "rotate"),
        ...Array.from({ length: 10 }, () =>
          expectUnavailable(() => request(base).get("/get").set("Cookie", cookie), "read"),
        ),
      ]);
      // The timeout was what ended them: each waited about that long, none much longer.
      expect(Math.min(login, logout, rotate, ...reads)).toBeGreaterThanOrEqual(TIMEOUT - 50);
      // A request that does not touch the session is served as usual.
      const noop = await request(base).get("/noop").set("Cookie", cookie).expect(200);
      expect(noop.body.token).toBe(token);
    } finally {
      server.thaw();
    }
    await until(async () => (await request(base).get("/get").set("Cookie", cookie)).ok, recovery);
    const back = await request(base).get("/get").set("Cookie", cookie).expect(200);
    expect(back.body.session?.id).toBe("frozen-user");
  });

  it("killed: bounded 503s, and recovery after the restart (with an empty Redis)", async () => {
    const token = await login("crash-user");
    const cookie = `rs.sid=${token}`;
    await server.crash();
    try {
      await Promise.all([
        ...Array.from({ length: 5 }, () =>
          expectUnavailable(() => request(base).get("/get").set("Cookie", cookie), "read"),
        ),
        expectUnavailable(() => request(base).post("/upsert").send({ id: "x" }), "login"),
      ]);
    } finally {
      await server.restart();
    }
    const restarted = Date.now();
    await until(async () => (await request(base).get("/get").set("Cookie", cookie)).ok, recovery);
    const recoveredIn = Date.now() - restarted;
    expect(recoveredIn).toBeLessThan(5000);
    // No persistence: the session is gone, so its cookie is cleared now, not during the outage.
    const stale = await request(base).get("/get").set("Cookie", cookie).expect(200);
    expect(stale.body.session).toBeNull();
    expect(cookiesNamed(stale.headers, "rs.sid")[0]?.maxAge).toBe(0);
    const again = await login("crash-user");
    expect(again).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(unhandled).toEqual([]);
  });
});
