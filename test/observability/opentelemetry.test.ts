import { context, metrics, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { AppLabels } from "../../src/observability/labels.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { until } from "../helpers/wait.js";

/** A reader the test collects from when it wants (no timer, no exporter). */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const spans = new InMemorySpanExporter();
const reader = new TestReader();
const contextManager = new AsyncLocalStorageContextManager().enable();
// Registered before any store is made, as OpenTelemetry's SDKs ask.
context.setGlobalContextManager(contextManager);
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
);
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

type Point = DataPoint<unknown>;

async function collect(): Promise<ResourceMetrics> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics;
}

/** The data points of metric `name` whose attributes include `match`. */
function points(rm: ResourceMetrics, name: string, match: Record<string, unknown> = {}): Point[] {
  const metric = rm.scopeMetrics
    .filter((s) => s.scope.name === "express-redis-sessions")
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === name);
  return ((metric?.dataPoints ?? []) as Point[]).filter((p) =>
    Object.entries(match).every(([k, v]) => p.attributes[k] === v),
  );
}

function sum(rm: ResourceMetrics, name: string, match: Record<string, unknown> = {}): number {
  return points(rm, name, match).reduce((n, p) => n + Number(p.value), 0);
}

function histogramCount(rm: ResourceMetrics, match: Record<string, unknown>): number {
  return points(rm, "ers.operation.duration", match).reduce(
    (n, p) => n + (p.value as Histogram).count,
    0,
  );
}

function spansOf(namespace: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.attributes["ers.namespace"] === namespace);
}

describe("OpenTelemetry: spans and metrics of store operations", () => {
  const namespace = uniqueNamespace("otel");
  let store: RedisSessions;

  beforeAll(() => {
    store = new RedisSessions({ redis: redisUrl(), namespace, wipe: 0, metricApps: 5 });
  });
  afterAll(async () => {
    await store?.quit();
  });

  it("a login, a read and a kill: CLIENT spans under the caller's span, durations and counts", async () => {
    const tracer = trace.getTracer("test");
    const token = await tracer.startActiveSpan("POST /login", async (parent) => {
      const { token } = await store.create({
        app: "shop",
        id: "alice@example.com",
        ip: "10.0.0.1",
      });
      expect(await store.get({ app: "shop", token })).toMatchObject({ id: "alice@example.com" });
      expect(await store.kill({ app: "shop", token })).toEqual({ kill: 1 });
      parent.end();
      return token;
    });

    const traced = spansOf(namespace);
    expect(traced.map((s) => s.name)).toEqual(["ers.create", "ers.get", "ers.kill"]);
    const parent = spans.getFinishedSpans().find((s) => s.name === "POST /login");
    for (const span of traced) {
      expect(span.kind).toBe(SpanKind.CLIENT);
      expect(span.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
      expect(span.spanContext().traceId).toBe(parent?.spanContext().traceId);
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.attributes).toMatchObject({
        "db.system.name": "redis",
        "db.operation.name": span.name.slice(4),
        "ers.app": "shop",
        "ers.layout": "compat",
        "ers.namespace": namespace,
      });
    }
    expect(traced[0]?.attributes["ers.sessions"]).toBe(1);
    expect(traced[2]?.attributes["ers.sessions"]).toBe(1);
    // Neither the token nor the user id is in any span.
    expect(JSON.stringify(traced.map((s) => [s.name, s.attributes, s.events]))).not.toMatch(
      new RegExp(`${token}|alice`),
    );

    const rm = await collect();
    const mine = { "ers.namespace": namespace, "ers.outcome": "ok", "ers.app": "shop" };
    for (const operation of ["create", "get", "kill"]) {
      expect(histogramCount(rm, { ...mine, "ers.operation": operation }), operation).toBe(1);
    }
    const [create] = points(rm, "ers.operation.duration", { ...mine, "ers.operation": "create" });
    const took = (create?.value as Histogram | undefined)?.sum ?? 0;
    expect(took).toBeGreaterThan(0);
    expect(took).toBeLessThan(1);
    expect(sum(rm, "ers.sessions.created", { "ers.namespace": namespace })).toBe(1);
    expect(sum(rm, "ers.sessions.killed", { "ers.namespace": namespace })).toBe(1);
    expect(sum(rm, "ers.operation.errors", { "ers.namespace": namespace })).toBe(0);
    expect(sum(rm, "ers.redis.up", { "ers.namespace": namespace })).toBe(1);
    // No cache: the subscriber is "off".
    const states = points(rm, "ers.cache.subscriber.state", { "ers.namespace": namespace });
    expect(Object.fromEntries(states.map((p) => [p.attributes["ers.state"], p.value]))).toEqual({
      subscribed: 0,
      connecting: 0,
      down: 0,
      off: 1,
    });
  });

  it("a Redis outage: error spans with the code, error counters, outcome error", async () => {
    const { hostname, port } = new URL(redisUrl());
    const hole = await FaultProxy.start({ host: hostname, port: Number(port) });
    const ns = uniqueNamespace("otelx");
    const down = new RedisSessions({ redis: hole.url, namespace: ns, wipe: 0, timeout: 200 });
    try {
      const { token } = await down.create({ app: "shop", id: "bob", ip: "10.0.0.2" });
      hole.setMode({ kind: "blackhole", swallow: true });
      await expect(down.get({ app: "shop", token })).rejects.toMatchObject({
        code: "ERS_STORE_TIMEOUT",
      });
      await expect(down.kill({ app: "shop", token })).rejects.toMatchObject({
        code: "ERS_STORE_TIMEOUT",
      });
    } finally {
      await down.quit();
      await hole.close();
    }
    const failed = spansOf(ns).filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed.map((s) => s.name)).toEqual(["ers.get", "ers.kill"]);
    for (const span of failed) {
      expect(span.attributes["error.type"]).toBe("ERS_STORE_TIMEOUT");
      expect(span.status.message).toMatch(/did not answer in time/);
      expect(span.events.map((e) => e.name)).toEqual(["exception"]);
    }
    const rm = await collect();
    const errors = { "ers.namespace": ns, "error.type": "ERS_STORE_TIMEOUT" };
    expect(sum(rm, "ers.operation.errors", { ...errors, "ers.operation": "get" })).toBe(1);
    expect(sum(rm, "ers.operation.errors", { ...errors, "ers.operation": "kill" })).toBe(1);
    expect(histogramCount(rm, { "ers.namespace": ns, "ers.outcome": "error" })).toBe(2);
    // No app label unless metricApps asks for it.
    expect(
      points(rm, "ers.operation.duration", { "ers.namespace": ns })[0]?.attributes,
    ).not.toHaveProperty("ers.app");
  });

  it("cache hits, misses and evictions are read from the store when the SDK collects", async () => {
    const ns = uniqueNamespace("otelc");
    const cached = new RedisSessions({
      redis: redisUrl(),
      namespace: ns,
      wipe: 0,
      cachetime: 30,
      cachemax: 2,
    });
    try {
      await cached.ping();
      const rm0 = await collect();
      expect(
        points(rm0, "ers.cache.subscriber.state", { "ers.namespace": ns, "ers.state": "off" })[0]
          ?.value,
      ).toBe(0);
      const tokens = [];
      for (const id of ["a", "b", "c"]) {
        tokens.push((await cached.create({ app: "shop", id, ip: "10.0.0.3" })).token);
      }
      // Wait for the subscriber, then read three sessions into a cache of two, and one again.
      await until(() => cached.cacheStats().subscriber === "subscribed", { what: "subscriber" });
      for (const token of tokens) await cached.get({ app: "shop", token });
      await cached.get({ app: "shop", token: tokens[2] as string });
      const stats = cached.cacheStats();
      expect(stats).toMatchObject({ hits: 1, misses: 3, evictions: 1, size: 2 });
      const rm = await collect();
      const mine = { "ers.namespace": ns };
      expect(sum(rm, "ers.cache.hits", mine)).toBe(1);
      expect(sum(rm, "ers.cache.misses", mine)).toBe(3);
      expect(sum(rm, "ers.cache.evictions", mine)).toBe(1);
      expect(sum(rm, "ers.cache.entries", mine)).toBe(2);
      expect(
        points(rm, "ers.cache.subscriber.state", { ...mine, "ers.state": "subscribed" })[0]?.value,
      ).toBe(1);
    } finally {
      await cached.quit();
    }
    // Once the store quit its callbacks are gone: the SDK keeps the last observation (2) instead
    // of reading the emptied cache (0).
    expect(cached.cacheStats().size).toBe(0);
    const after = await collect();
    expect(points(after, "ers.cache.entries", { "ers.namespace": ns })[0]?.value).toBe(2);
  });

  it("openTelemetry: false reports nothing", async () => {
    const ns = uniqueNamespace("otel0");
    const quiet = new RedisSessions({
      redis: redisUrl(),
      namespace: ns,
      wipe: 0,
      openTelemetry: false,
    });
    try {
      await quiet.create({ app: "shop", id: "carol", ip: "10.0.0.4" });
    } finally {
      await quiet.quit();
    }
    expect(spansOf(ns)).toEqual([]);
    expect(histogramCount(await collect(), { "ers.namespace": ns })).toBe(0);
  });
});

describe("AppLabels", () => {
  it("labels the first apps by name, the rest as other, and none with max 0", () => {
    const labels = new AppLabels(2);
    expect(["a", "b", "c", "a", "d", "b"].map((a) => labels.label(a))).toEqual([
      "a",
      "b",
      "other",
      "a",
      "other",
      "b",
    ]);
    expect(new AppLabels(0).label("a")).toBeUndefined();
  });
});
