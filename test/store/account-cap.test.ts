import { afterEach, describe, expect, it } from "vitest";
import { isRedisSessionsError, type RedisSessions, sessionHandle } from "../../src/index.js";
import { uniqueNamespace } from "../helpers/context.js";
import { fakeClock, storePool } from "../helpers/stores.js";
import { until } from "../helpers/wait.js";

/*
 * The per-user cap (maxSessionsPerUser, onSessionLimit), checked atomically inside create, on
 * both layouts: eviction of the least recently active sessions, refusal, and concurrent logins.
 */

const app = "capped";
const stores = storePool();
afterEach(() => stores.quitAll());

async function live(rs: RedisSessions, id: string): Promise<string[]> {
  return (await rs.soid({ app, id })).sessions.map((s) => s.token).sort();
}

describe.each(["compat", "cluster"] as const)("layout %s: per-user cap", (layout) => {
  it("evicts the least recently active sessions, reporting each", async () => {
    const clock = fakeClock();
    const rs = stores.open({ clock: clock.now, layout, maxSessionsPerUser: 3 });
    const evicted: unknown[] = [];
    rs.on("evicted", (e) => evicted.push(e));
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      tokens.push((await rs.create({ app, id: "u1", ip: "1" })).token);
      clock.t += 10;
    }
    // The oldest session was active most recently: the second one is the least recent now.
    await rs.get({ app, token: tokens[0] as string });
    clock.t += 10;
    const fourth = (await rs.create({ app, id: "u1", ip: "1" })).token;
    expect(await live(rs, "u1")).toEqual([tokens[0], tokens[2], fourth].sort());
    expect(evicted).toEqual([{ app, id: "u1", handle: sessionHandle(tokens[1] as string) }]);
    expect(await rs.get({ app, token: tokens[1] as string })).toBeNull();
    // Other ids are not affected.
    await rs.create({ app, id: "u2", ip: "1" });
    expect(await live(rs, "u1")).toHaveLength(3);
  });

  it("refuses a create over the cap with ERS_SESSION_LIMIT (409); dead sessions do not count", async () => {
    const clock = fakeClock();
    const rs = stores.open({
      clock: clock.now,
      layout,
      maxSessionsPerUser: 2,
      onSessionLimit: "refuse",
    });
    const short = await rs.create({ app, id: "u1", ip: "1", ttl: 10 });
    const long = await rs.create({ app, id: "u1", ip: "1", ttl: 3600 });
    const err = await rs.create({ app, id: "u1", ip: "1" }).catch((e: unknown) => e);
    expect(isRedisSessionsError(err) && [err.code, err.status]).toEqual(["ERS_SESSION_LIMIT", 409]);
    expect(await live(rs, "u1")).toEqual([short.token, long.token].sort());
    clock.t += 11;
    const third = await rs.create({ app, id: "u1", ip: "1" });
    expect(await live(rs, "u1")).toEqual([long.token, third.token].sort());
    await rs.kill({ app, token: long.token });
    await rs.create({ app, id: "u1", ip: "1" });
    expect(await live(rs, "u1")).toHaveLength(2);
  });

  it("an evicted session leaves another process' cache", async () => {
    const namespace = uniqueNamespace();
    const rs = stores.open({ namespace, layout, maxSessionsPerUser: 1 });
    const reader = stores.open({ namespace, layout, cachetime: 60 });
    await until(() => reader.cacheStats().active, { what: "the cache to subscribe" });
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    expect((await reader.get({ app, token }))?.id).toBe("u1");
    expect((await reader.get({ app, token }))?.id).toBe("u1");
    expect(reader.cacheStats().hits).toBe(1);
    await rs.create({ app, id: "u1", ip: "1" });
    await until(async () => (await reader.get({ app, token })) === null, {
      what: "the evicted session to leave the cache",
    });
  });

  describe.each(["evict", "refuse"] as const)("20 concurrent logins, cap 3, %s", (mode) => {
    it("never leave more than 3 live sessions", async () => {
      const namespace = uniqueNamespace();
      // Five stores (five connections), as five app servers would log the user in.
      const servers = Array.from({ length: 5 }, () =>
        stores.open({ namespace, layout, maxSessionsPerUser: 3, onSessionLimit: mode }),
      );
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          (servers[i % 5] as RedisSessions).create({ app, id: "crowd", ip: `10.0.0.${i}` }),
        ),
      );
      const made = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.token] : []));
      const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      const rs = servers[0] as RedisSessions;
      const alive = await live(rs, "crowd");
      expect(alive).toHaveLength(3);
      let readable = 0;
      for (const token of made) if (await rs.get({ app, token })) readable++;
      expect(readable).toBe(3);
      if (mode === "refuse") {
        expect(made).toHaveLength(3);
        expect(
          refused.every((e) => isRedisSessionsError(e) && e.code === "ERS_SESSION_LIMIT"),
        ).toBe(true);
        expect(refused).toHaveLength(17);
      } else {
        expect(made).toHaveLength(20);
        expect(alive.every((t) => made.includes(t))).toBe(true);
      }
    });
  });

  it("refuses bad cap options by name", () => {
    for (const maxSessionsPerUser of [-1, 1.5, "3", 10_001]) {
      expect(() => stores.open({ maxSessionsPerUser: maxSessionsPerUser as never })).toThrow(
        /maxSessionsPerUser/,
      );
    }
    expect(() => stores.open({ onSessionLimit: "drop" as never })).toThrow(/onSessionLimit/);
  });
});
