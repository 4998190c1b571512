import { afterEach, describe, expect, it } from "vitest";
import { type RedisSessions, type StoreEvents, sessionHandle } from "../../src/index.js";
import { fakeClock, storePool } from "../helpers/stores.js";

/*
 * Lifecycle events of a store (created, rotated, killed, evicted, expired), on both layouts:
 * emitted by the process that did the operation, carrying handles and never tokens, and a
 * listener that throws never fails the operation.
 */

const app = "events";
const stores = storePool();
afterEach(() => stores.quitAll());

type Recorded = { [E in keyof StoreEvents]: [E, StoreEvents[E][0]] }[keyof StoreEvents];

function record(rs: RedisSessions): Recorded[] {
  const seen: Recorded[] = [];
  rs.on("created", (p) => seen.push(["created", p]));
  rs.on("rotated", (p) => seen.push(["rotated", p]));
  rs.on("killed", (p) => seen.push(["killed", p]));
  rs.on("evicted", (p) => seen.push(["evicted", p]));
  rs.on("expired", (p) => seen.push(["expired", p]));
  return seen;
}

describe.each(["compat", "cluster"] as const)("layout %s: lifecycle events", (layout) => {
  it("reports created, rotated and killed (by token, handle, id, app) with handles only", async () => {
    const rs = stores.open({ layout });
    const seen = record(rs);
    const a = await rs.create({ app, id: "u1", ip: "1" });
    const b = await rs.create({ app, id: "u1", ip: "1" });
    const next = (await rs.rotate({ app, token: a.token, grace: 10 }))?.token ?? "";
    await rs.kill({ app, token: next });
    await rs.kill({ app, token: next }); // nothing left: no event
    await rs.kill({ app, id: "u1", handle: sessionHandle(b.token) });
    await rs.create({ app, id: "u2", ip: "1" });
    await rs.create({ app, id: "u2", ip: "1" });
    await rs.killsoid({ app, id: "u2" });
    await rs.create({ app, id: "u3", ip: "1" });
    await rs.killall({ app });
    const h = sessionHandle;
    expect(seen.slice(0, 5)).toEqual([
      ["created", { app, id: "u1", handle: h(a.token) }],
      ["created", { app, id: "u1", handle: h(b.token) }],
      ["rotated", { app, id: "u1", handle: h(next), previous: h(a.token), grace: 10 }],
      ["killed", { app, handle: h(next), via: "kill" }],
      ["killed", { app, id: "u1", handle: h(b.token), via: "handle" }],
    ]);
    expect(seen.slice(5).map(([name, p]) => [name, "count" in p ? p : p.id])).toEqual([
      ["created", "u2"],
      ["created", "u2"],
      ["killed", { app, id: "u2", count: 2, via: "killsoid" }],
      ["created", "u3"],
      ["killed", { app, count: 1, via: "killall" }],
    ]);
    const text = JSON.stringify(seen);
    for (const token of [a.token, b.token, next]) expect(text).not.toContain(token);
  });

  it("reports sessions the cap evicted and sessions this process' wipe removed", async () => {
    const clock = fakeClock();
    const rs = stores.open({ layout, clock: clock.now, maxSessionsPerUser: 1 });
    const seen = record(rs);
    const first = await rs.create({ app, id: "u1", ip: "1", ttl: 10 });
    clock.t += 1;
    const second = await rs.create({ app, id: "u1", ip: "1", ttl: 10 });
    const other = await rs.create({ app, id: "u2", ip: "1", ttl: 10, absolute: 10 });
    expect(seen.filter(([n]) => n === "evicted")).toEqual([
      ["evicted", { app, id: "u1", handle: sessionHandle(first.token) }],
    ]);
    clock.t += 20;
    expect(await rs.wipe()).toBe(2);
    const expired = seen.filter(([n]) => n === "expired").map(([, p]) => p);
    expect(expired).toHaveLength(2);
    expect(expired).toEqual(
      expect.arrayContaining([
        { app, id: "u1", handle: sessionHandle(second.token) },
        { app, id: "u2", handle: sessionHandle(other.token) },
      ]),
    );
  });

  it("a listener that throws or rejects never fails the operation; once listeners run once", async () => {
    const rs = stores.open({ layout });
    let after = 0;
    let once = 0;
    rs.on("created", () => {
      throw new Error("listener bug");
    });
    rs.on("created", async () => {
      throw new Error("async listener bug");
    });
    rs.on("created", () => after++);
    rs.once("created", () => once++);
    const { token } = await rs.create({ app, id: "u1", ip: "1" });
    await rs.create({ app, id: "u1", ip: "1" });
    expect(after).toBe(2);
    expect(once).toBe(1);
    expect((await rs.get({ app, token }))?.id).toBe("u1");
  });
});
