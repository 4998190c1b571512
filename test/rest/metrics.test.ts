import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliProcess, startServer } from "../helpers/cli-process.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

const KEY = "metrics-test-key-7f3a9c21d4e8";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus' text exposition format, as a scraper reads it: samples, and each family's TYPE. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, "$1");
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1)
    throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return (found[0] as Sample).value;
}

describe("GET /metrics and JSON logs through the real CLI server", () => {
  const namespace = uniqueNamespace("prom");
  let server: CliProcess & { url: string };
  const call = (method: string, path: string, key: string | null = KEY) =>
    fetch(`${server.url}${path}`, { method, headers: key ? { "x-api-key": key } : {} });

  beforeAll(async () => {
    server = await startServer(["--log-format", "json", "--admin", "--metric-apps", "1"], {
      RS_REDISURL: redisUrl(),
      RS_NAMESPACE: namespace,
      RS_WIPE: "0",
      RS_APIKEY: KEY,
    });
  });
  afterAll(() => {
    if (server?.child.exitCode === null) server.child.kill("SIGKILL");
  });

  it("serves the store's metrics in the text format, behind the API key", async () => {
    expect((await call("GET", "/metrics", null)).status).toBe(401);
    expect((await call("GET", "/metrics", "wrong-key-wrong-key")).status).toBe(401);

    const created = await call("PUT", "/shop/create/alice%40example.com?ip=10.0.0.1");
    const { token } = (await created.json()) as { token: string };
    expect((await call("GET", `/shop/get/${token}`)).status).toBe(200);
    expect((await call("GET", `/other/get/${"x".repeat(64)}`)).status).toBe(200);
    expect(await (await call("DELETE", `/shop/kill/${token}`)).json()).toEqual({ kill: 1 });

    const res = await call("GET", "/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const { samples, types } = parse(await res.text());

    expect(types.get("ers_operation_duration_seconds")).toBe("histogram");
    expect(types.get("ers_sessions_created_total")).toBe("counter");
    expect(types.get("ers_cache_hits_total")).toBe("counter");
    const ok = (operation: string, app: string) => ({ operation, outcome: "ok", app });
    for (const [operation, app] of [
      ["create", "shop"],
      ["get", "shop"],
      ["kill", "shop"],
      // --metric-apps 1: the second app is "other".
      ["get", "other"],
    ] as const) {
      expect(value(samples, "ers_operation_duration_seconds_count", ok(operation, app))).toBe(1);
      const inf = { ...ok(operation, app), le: "+Inf" };
      expect(value(samples, "ers_operation_duration_seconds_bucket", inf)).toBe(1);
    }
    // Buckets are cumulative; the sum is a duration in seconds.
    const buckets = samples.filter(
      (s) => s.name === "ers_operation_duration_seconds_bucket" && s.labels.operation === "create",
    );
    expect(buckets.map((b) => b.value)).toEqual(
      [...buckets.map((b) => b.value)].sort((a, b) => a - b),
    );
    const sum = value(samples, "ers_operation_duration_seconds_sum", ok("create", "shop"));
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(1);
    expect(value(samples, "ers_sessions_created_total")).toBe(1);
    expect(value(samples, "ers_sessions_killed_total", { operation: "kill" })).toBe(1);
    expect(value(samples, "ers_redis_up")).toBe(1);
    expect(value(samples, "ers_store_info", { layout: "compat", namespace })).toBe(1);
    expect(value(samples, "ers_cache_subscriber_state", { state: "off" })).toBe(1);
    expect(value(samples, "ers_cache_hits_total")).toBe(0);
    expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
    // No token, id or ip in any label.
    const labels = JSON.stringify(samples.map((s) => s.labels));
    for (const secret of [token, "alice", "10.0.0.1"]) expect(labels).not.toContain(secret);
  });

  it("serves the dashboard's health JSON behind the key", async () => {
    expect((await call("GET", "/admin/api/health", null)).status).toBe(401);
    const res = await call("GET", "/admin/api/health");
    expect(res.status).toBe(200);
    const health = (await res.json()) as Record<string, Record<string, unknown>>;
    expect(health.redis).toMatchObject({ up: true, latencyMs: expect.any(Number) });
    expect(health.operations).toMatchObject({ windowSeconds: 60, errors: 0, errorRate: 0 });
    expect(health.operations?.count).toBeGreaterThanOrEqual(4);
    expect(health.operations?.p99Ms).toBeGreaterThanOrEqual(Number(health.operations?.p50Ms));
    expect(health.cache).toMatchObject({ enabled: false, hitRate: null, subscriber: "off" });
  });

  it("writes JSON lines: tokens cut, user ids hidden, every line parses", async () => {
    const created = await call("PUT", "/shop/create/bob%40example.com?ip=10.0.0.9");
    const { token } = (await created.json()) as { token: string };
    // Percent-encoded, the token is still recognized and cut.
    const encoded = [...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");
    expect((await call("GET", `/shop/get/${encoded}`)).status).toBe(200);
    await server.waitFor(new RegExp(`"url":"/shop/get/${token.slice(0, 6)}…"`));
    const lines = server.stderr().trimEnd().split("\n");
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries[0]).toMatchObject({
      level: 30,
      name: "express-redis-sessions",
      pid: server.child.pid,
      msg: expect.stringMatching(/listening on http:\/\//),
    });
    expect(entries).toContainEqual(
      expect.objectContaining({
        msg: "request completed",
        req: { method: "PUT", url: "/shop/create/:id" },
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      }),
    );
    const text = server.stderr();
    for (const secret of [token, encoded, "bob", "alice", "10.0.0.9", KEY]) {
      expect(text).not.toContain(secret);
    }
  });
});
