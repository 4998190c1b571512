import { AsyncLocalStorage } from "node:async_hooks";
import { tracingChannel } from "node:diagnostics_channel";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { telemetryOf } from "../../src/observability/telemetry.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { FaultProxy } from "../helpers/fault-proxy.js";

// Subscribed by name, as an APM agent would, without importing anything of the package.
const channel = tracingChannel<unknown, Record<string, unknown>>("express-redis-sessions:store");

type Event = [kind: string, ctx: Record<string, unknown>];

describe("diagnostics_channel: express-redis-sessions:store", () => {
  const namespace = uniqueNamespace("dc");
  const events: Event[] = [];
  const record = (kind: string) => (ctx: Record<string, unknown>) => {
    // Every store of the run publishes here: keep this file's namespaces only.
    if (String(ctx.namespace).startsWith("dc")) events.push([kind, ctx]);
  };
  const handlers = {
    start: record("start"),
    end: record("end"),
    asyncStart: record("asyncStart"),
    asyncEnd: record("asyncEnd"),
    error: record("error"),
  };
  let store: RedisSessions;

  beforeAll(() => {
    channel.subscribe(handlers);
    store = new RedisSessions({ redis: redisUrl(), namespace, wipe: 0 });
  });
  afterAll(async () => {
    channel.unsubscribe(handlers);
    await store?.quit();
  });
  afterEach(() => {
    events.length = 0;
  });

  it("publishes start, end, asyncStart and asyncEnd for every operation, with no token or id", async () => {
    const id = "alice@example.com";
    const ip = "203.0.113.77";
    const { token } = await store.create({ app: "shop", id, ip, d: { plan: "pro" } });
    const second = await store.create({ app: "shop", id, ip });
    await store.get({ app: "shop", token });
    await store.set({ app: "shop", token, d: { plan: "free" } });
    const rotated = await store.rotate({ app: "shop", token });
    await store.soid({ app: "shop", id });
    await store.soapp({ app: "shop", deltaTime: 60 });
    await store.activity({ app: "shop", deltaTime: 60 });
    await store.kill({ app: "shop", token: rotated?.token ?? "" });
    await store.killsoid({ app: "shop", id });
    await store.killall({ app: "shop" });
    await store.wipe();
    await store.ping();

    const operations = events.filter(([k]) => k === "start").map(([, c]) => c.operation);
    expect(operations).toEqual([
      ...["create", "create", "get", "set", "rotate", "soid", "soapp", "activity"],
      ...["kill", "killsoid", "killall", "wipe", "ping"],
    ]);
    // One context object per operation, through its four events in order.
    for (let i = 0; i < events.length; i += 4) {
      const group = events.slice(i, i + 4);
      expect(group.map(([k]) => k)).toEqual(["start", "end", "asyncStart", "asyncEnd"]);
      expect(new Set(group.map(([, c]) => c)).size).toBe(1);
    }
    const done = events.filter(([k]) => k === "asyncEnd").map(([, c]) => c);
    for (const ctx of done) {
      expect(ctx).toMatchObject({
        layout: "compat",
        namespace,
        target: expect.stringMatching(/^Redis at /),
      });
      expect(ctx.duration).toBeGreaterThan(0);
      expect(ctx.app).toBe(["wipe", "ping"].includes(String(ctx.operation)) ? undefined : "shop");
      expect(ctx.errorCode).toBeUndefined();
    }
    const sessions = Object.fromEntries(
      done.filter((c) => c.sessions !== undefined).map((c) => [c.operation, c.sessions]),
    );
    expect(sessions).toEqual({ create: 1, kill: 1, killsoid: 1, killall: 0, wipe: 0 });
    // Search every serialized context for the secrets: tokens, the user id, the ip, the data.
    const text = JSON.stringify(events.map(([, c]) => c));
    for (const secret of [
      token,
      second.token,
      rotated?.token,
      id,
      ip,
      "plan",
      token.slice(0, 20),
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it("publishes error with the code, and an error without the ioredis cause", async () => {
    const { hostname, port } = new URL(redisUrl());
    const hole = await FaultProxy.start({ host: hostname, port: Number(port) });
    const ns = uniqueNamespace("dcx");
    const down = new RedisSessions({ redis: hole.url, namespace: ns, wipe: 0, timeout: 200 });
    let token = "";
    try {
      ({ token } = await down.create({ app: "shop", id: "bob", ip: "10.1.1.1" }));
      hole.setMode({ kind: "blackhole", swallow: true });
      await expect(down.get({ app: "shop", token })).rejects.toMatchObject({
        code: "ERS_STORE_TIMEOUT",
      });
    } finally {
      await down.quit();
      await hole.close();
    }
    const mine = events.filter(([, c]) => c.namespace === ns && c.operation === "get");
    expect(mine.map(([k]) => k)).toEqual(["start", "end", "error", "asyncStart", "asyncEnd"]);
    const ctx = mine[0]?.[1] ?? {};
    expect(ctx.errorCode).toBe("ERS_STORE_TIMEOUT");
    expect(ctx.error).toMatchObject({ code: "ERS_STORE_TIMEOUT", name: "storeUnavailable" });
    expect((ctx.error as Error).cause).toBeUndefined();
    expect((ctx.error as Error).message).toMatch(/did not answer in time/);
    expect(JSON.stringify(mine.map(([, c]) => c))).not.toContain(token);
  });

  it("runs the operation inside the start channel's bound stores (APM context propagation)", async () => {
    const als = new AsyncLocalStorage<string>();
    channel.start.bindStore(als, (ctx) => `span of ${String(ctx.operation)}`);
    const seen: (string | undefined)[] = [];
    const onEnd = () => seen.push(als.getStore());
    channel.asyncEnd.subscribe(onEnd);
    try {
      await store.ping();
    } finally {
      channel.asyncEnd.unsubscribe(onEnd);
      channel.start.unbindStore(als);
    }
    expect(seen).toContain("span of ping");
  });

  it("never fails an operation because a listener of the store throws", async () => {
    const boom = () => {
      throw new Error("listener bug");
    };
    const remove = telemetryOf(store)?.listen({ start: boom, end: boom });
    expect(remove).toBeTypeOf("function");
    try {
      const { token } = await store.create({ app: "shop", id: "dave", ip: "10.2.2.2" });
      expect(await store.get({ app: "shop", token })).toMatchObject({ id: "dave" });
    } finally {
      remove?.();
    }
  });
});
