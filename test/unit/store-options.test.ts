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
