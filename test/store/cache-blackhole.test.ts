import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { uniqueNamespace } from "../helpers/context.js";
import { FaultProxy, type ProxyConnection } from "../helpers/fault-proxy.js";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.js";
import { readUntil, until } from "../helpers/wait.js";
import { adminClient } from "../robustness/faults/toolbox.js";

/*
 * A black-holed cache subscriber: its packets vanish (a dropped NAT entry, a dead link) while the
 * socket stays open, so ioredis never notices, and invalidations published meanwhile never
 * arrive. Before, the cache went on reporting itself active and served sessions that another
 * process had killed until `cachetime` ran out. Now the subscriber is dropped and reconnected
 * when the store finds its own connection black-holed, and on its own when a heartbeat PING goes
 * unanswered; meanwhile the cache is flushed and bypassed, and `cacheStats().subscriber` says so.
 */

const app = "holeapp";
const TIMEOUT = 300;
let server: RedisServer;
let proxy: FaultProxy;
const open: RedisSessions[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.quit()));
  await proxy?.close();
});

afterAll(async () => {
  await server.stop();
});

/** A store with a cache behind the proxy, and another process's store, direct. */
async function setup() {
  proxy = await FaultProxy.start(server);
  const namespace = uniqueNamespace();
  const cached = new RedisSessions({
    redis: proxy.url,
    namespace,
    cachetime: 60,
    timeout: TIMEOUT,
    wipe: 0,
  });
  const remote = new RedisSessions({ redis: server.url, namespace, wipe: 0 });
  open.push(cached, remote);
  await until(() => cached.cacheStats().active, { what: "the cache to subscribe" });
  expect(cached.cacheStats().subscriber).toBe("subscribed");
  // Redis lists the subscriber's connection; the other one is the command connection.
  const admin = adminClient(server.url);
  const subs = String(await admin.call("CLIENT", "LIST", "TYPE", "pubsub"));
  admin.disconnect();
  const sub = proxy.byRedisAddr(/addr=(\S+)/.exec(subs)?.[1] ?? "");
  if (!sub) throw new Error("expected the subscriber's connection in the proxy");
  const { token } = await remote.create({ app, id: "u1", ip: "::1" });
  expect((await cached.get({ app, token }))?.id).toBe("u1");
  const { hits } = cached.cacheStats();
  expect((await cached.get({ app, token }))?.id).toBe("u1");
  expect(cached.cacheStats().hits).toBe(hits + 1);
  return { cached, remote, token, sub };
}

/** Every connection open now loses its packets; connections opened later work. */
function blackHoleOpenConnections(): ProxyConnection[] {
  const holed = [...proxy.connections];
  for (const c of holed) c.setMode({ kind: "blackhole", swallow: true });
  return holed;
}

describe("a black-holed cache subscriber", () => {
  it("is reconnected with the store's connection: a session killed meanwhile is never served", async () => {
    const { cached, remote, token } = await setup();
    blackHoleOpenConnections();
    // Three timeouts in a row: the store drops its connection, and now the subscriber's too.
    for (let i = 0; i < 3; i++) {
      await expect(cached.ping()).rejects.toMatchObject({ code: "ERS_STORE_TIMEOUT" });
    }
    expect(cached.cacheStats()).toMatchObject({ active: false, size: 0 });
    expect(cached.cacheStats().subscriber).not.toBe("subscribed");
    // Another process logs the user out; the old subscriber would never hear of it.
    expect(await remote.kill({ app, token })).toEqual({ kill: 1 });
    expect(await cached.get({ app, token })).toBeNull();
    await until(() => cached.cacheStats().subscriber === "subscribed", {
      what: "the subscriber to come back",
    });
    expect(await cached.get({ app, token })).toBeNull();
  });

  it("is noticed by its heartbeat when only it is black-holed, within about a second", async () => {
    const { cached, remote, token, sub } = await setup();
    sub.setMode({ kind: "blackhole", swallow: true });
    expect(await remote.kill({ app, token })).toEqual({ kill: 1 });
    const started = Date.now();
    // The main connection is fine: reads keep working; the stale entry must go soon.
    await readUntil(
      () => cached.get({ app, token }),
      (s) => s === null,
      { ms: 4000, every: 20, what: "the killed session to stop being served" },
    );
    const staleMs = Date.now() - started;
    console.info(`[cache-blackhole] killed session served for ${staleMs} ms after the kill`);
    await until(() => cached.cacheStats().subscriber === "subscribed", {
      what: "the subscriber to come back",
    });
    expect(cached.cacheStats().flushes).toBeGreaterThan(0);
    // Working again: a session is cached and invalidated by a remote kill as before.
    const other = await remote.create({ app, id: "u2", ip: "::1" });
    await cached.get({ app, ...other });
    expect(cached.cacheStats().size).toBe(1);
    await remote.kill({ app, ...other });
    await until(() => cached.cacheStats().size === 0, { what: "the invalidation" });
  });
});
