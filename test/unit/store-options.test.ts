import { describe, expect, it } from "vitest";
import { resolveStoreOptions } from "../../src/store/options.js";

describe("options of the cluster layout, Sentinel and durableKill", () => {
  it("defaults: compat layout, 60 buckets, durableKill off", () => {
    const o = resolveStoreOptions({});
    expect(o).toMatchObject({ layout: "compat", buckets: 60, durableKill: undefined });
    expect(resolveStoreOptions({ durableKill: true }).durableKill).toEqual({
      replicas: 1,
      timeout: 200,
    });
    expect(resolveStoreOptions({ durableKill: { replicas: 2 } }).durableKill).toEqual({
      replicas: 2,
      timeout: 200,
    });
    expect(resolveStoreOptions({ durableKill: false }).durableKill).toBeUndefined();
  });

  it.each([
    [{ layout: "sharded" }, /"layout" must be "compat" or "cluster"/],
    [{ layout: "cluster", buckets: 0 }, /"buckets" must be an integer from 1 to 3844/],
    [{ layout: "cluster", buckets: 3845 }, /"buckets"/],
    [{ layout: "cluster", buckets: 2.5 }, /"buckets"/],
    [{ durableKill: { timeout: 1000 } }, /"durableKill.timeout" must be an integer from 1 to 999/],
    [{ durableKill: true, timeout: 150 }, /"durableKill" must be a timeout below/],
    [{ durableKill: { replicas: 0 } }, /"durableKill.replicas"/],
    [{ durableKill: "yes" }, /"durableKill"/],
    [{ cluster: [] }, /"cluster" must be a non-empty array/],
    [{ cluster: [{ host: "a" }], layout: "cluster" }, /"cluster"/],
    [{ sentinels: "127.0.0.1:26379" }, /"sentinels"/],
    [{ cluster: [{ host: "a", port: 1 }] }, /"layout" must be "cluster" with a Redis Cluster/],
  ])("refuses %o", (options, message) => {
    expect(() => resolveStoreOptions(options as never)).toThrow(message);
  });
});

describe("unknown options", () => {
  it.each([
    [{ url: "redis://127.0.0.1:6411" }, 'unknown option "url"; use "redis" for a URL'],
    [{ prot: 6411 }, 'unknown option "prot"; did you mean "port"?'],
    [{ redisUrl: "redis://h:1" }, 'unknown option "redisUrl"; use "redis" for a URL'],
    [{ prefix: "sess:" }, 'unknown option "prefix"; use "namespace"'],
    [{ cacheTime: 5 }, 'unknown option "cacheTime"; did you mean "cachetime"?'],
    [{ password: "x" }, 'unknown option "password"; give it in the "redis" URL or options'],
    [{ zzz: 1 }, 'unknown option "zzz"; known options: client, cluster, sentinels'],
  ])("refuses %o, naming it, with a hint", (options, message) => {
    expect(() => resolveStoreOptions(options as never)).toThrow(TypeError);
    expect(() => resolveStoreOptions(options as never)).toThrow(message);
  });

  it("takes every option it documents, and refuses options that are not an object", () => {
    const all = {
      client: undefined,
      cluster: undefined,
      sentinels: undefined,
      name: "mymaster",
      redis: "redis://127.0.0.1:6379",
      options: {},
      host: "127.0.0.1",
      port: 6379,
      timeout: 1000,
      autoPipelining: false,
      namespace: "rs",
      wipe: 0,
      cachetime: 0,
      cachemax: 10,
      cachemaxBytes: 0,
      maxDataBytes: 100,
      maxDataKeys: 10,
      clock: undefined,
      layout: "compat",
      buckets: 60,
      durableKill: false,
    } as const;
    expect(resolveStoreOptions(all).namespace).toBe("rs");
    expect(() => resolveStoreOptions(null as never)).toThrow(/store options must be an object/);
  });
});

describe("the redis URL and the address", () => {
  it.each([
    "redis://127.0.0.1:6411",
    "redis://localhost",
    "rediss://user:pw@redis.example.com:6380/2",
    "redis://:pw@[::1]:6379/0",
    "REDIS://127.0.0.1:6379",
    "redis://h:6379/?db=3&family=6",
    "/run/redis/redis.sock",
    "/tmp/redis.sock?db=2",
  ])("accepts %s", (redis) => {
    expect(() => resolveStoreOptions({ redis })).not.toThrow();
    expect(() => resolveStoreOptions({ options: { url: redis } })).not.toThrow();
  });

  it.each([
    ["redis:/127.0.0.1:6411", "a Redis URL"],
    ["127.0.0.1:6411", "a Redis URL"],
    ["http://127.0.0.1:6379", "a Redis URL"],
    ["redis://", "with a host"],
    ["redis:///1", "with a host"],
    ["redis://h:65536", "does not parse"],
    ["redis://h:0", "with a port from 1 to 65535"],
    ["redis://h:6379/one", "whose db is a number"],
    ["redis://h:6379/1/2", "whose db is a number"],
    ["redis://h:6379?db=x", "whose db is a number"],
    ["/", "a Redis URL"],
    ["/tmp/r.sock?db=-1", "whose db is a number"],
  ])("refuses %s at construction, naming the option", (redis, reason) => {
    expect(() => resolveStoreOptions({ redis })).toThrow(TypeError);
    expect(() => resolveStoreOptions({ redis })).toThrow(`option "redis" must be`);
    expect(() => resolveStoreOptions({ redis })).toThrow(reason);
    expect(() => resolveStoreOptions({ options: { url: redis } })).toThrow(`option "options.url"`);
  });

  it("never shows a password of a refused URL", () => {
    let message = "";
    try {
      resolveStoreOptions({ redis: "redis://user:hunter2@h:6379/x?password=hunter3" });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('"redis://user:***@h:6379/x?password=***"');
    expect(message).not.toMatch(/hunter/);
  });

  it.each([
    [{ port: 0 }, '"port" must be a port number'],
    [{ port: 65536 }, '"port" must be a port number'],
    [{ port: "6379x" }, '"port" must be a port number'],
    [{ port: 63.5 }, '"port" must be a port number'],
    [{ host: "" }, '"host" must be a host name'],
    [{ host: 1 }, '"host" must be a host name'],
  ])("refuses %o", (options, message) => {
    expect(() => resolveStoreOptions(options as never)).toThrow(message);
  });

  it("takes redis-sessions' port as a number or a string of digits", () => {
    expect(() => resolveStoreOptions({ port: 6411 })).not.toThrow();
    expect(() => resolveStoreOptions({ port: "6411" as never })).not.toThrow();
  });
});
