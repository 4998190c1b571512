import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe } from "vitest";
import { conformanceSuite } from "../helpers/conformance.js";
import { rawClient, redisUrl } from "../helpers/context.js";

describe("conformance: compat layout on one Redis", () => {
  let raw: Redis;
  beforeAll(() => {
    raw = rawClient();
  });
  afterAll(() => raw.quit());
  conformanceSuite(() => ({ options: { redis: redisUrl() }, masters: () => [raw] }));
});
