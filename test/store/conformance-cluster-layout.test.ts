import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { conformanceSuite } from "../helpers/conformance.js";
import { rawClient, redisUrl, uniqueNamespace } from "../helpers/context.js";

describe("conformance: cluster layout on one Redis", () => {
  let raw: Redis;
  beforeAll(() => {
    raw = rawClient();
  });
  afterAll(() => raw.quit());
  describe("default buckets", () => {
    conformanceSuite(() => ({
      options: { redis: redisUrl(), layout: "cluster" },
      masters: () => [raw],
    }));
  });
  describe("one bucket", () => {
    conformanceSuite(() => ({
      options: { redis: redisUrl(), layout: "cluster", buckets: 1 },
      masters: () => [raw],
    }));
  });
  describe("bucket count", () => {
    it("is fixed per app: a store configured with another count is refused", async () => {
      const namespace = uniqueNamespace("bk");
      const eight = new RedisSessions({
        redis: redisUrl(),
        namespace,
        layout: "cluster",
        buckets: 8,
      });
      const nine = new RedisSessions({
        redis: redisUrl(),
        namespace,
        layout: "cluster",
        buckets: 9,
      });
      try {
        const { token } = await eight.create({ app: "fixed", id: "u1", ip: "1" });
        await expect(nine.get({ app: "fixed", token })).rejects.toThrow(/8 buckets in Redis/);
        await expect(nine.create({ app: "fixed", id: "u2", ip: "1" })).rejects.toThrow(/buckets/);
        // Other apps are free to use another count.
        expect(await nine.create({ app: "other", id: "u1", ip: "1" })).toHaveProperty("token");
        expect(await eight.get({ app: "fixed", token })).toMatchObject({ id: "u1" });
      } finally {
        await Promise.all([eight.quit(), nine.quit()]);
      }
    });
  });
});
