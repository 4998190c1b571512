import { createRequire } from "node:module";
import express from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RestSessionsRouter, restSessions, sessionHandle } from "../../src/index.js";
import { redactPath } from "../../src/rest/logger.js";
import { type RunningServer, serve } from "../../src/rest/serve.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";
import { until } from "../helpers/wait.js";

// Express 4 is installed under the alias express4 (untyped): it has Express 5's shape for this use.
const express4 = createRequire(import.meta.url)("express4") as typeof express;

/*
 * The REST side of issue 14: create with absolute and ua, listings with handles, kill by handle,
 * and the audit log of session events that `serve` can write.
 */

const routers: RestSessionsRouter[] = [];
afterAll(async () => {
  await Promise.all(routers.map((r) => r.close()));
});

describe.each([
  ["express5", express],
  ["express4", express4],
] as const)("account routes under %s", (_name, framework) => {
  let app: ReturnType<typeof express>;
  beforeAll(() => {
    const r = restSessions({
      redis: redisUrl(),
      namespace: uniqueNamespace("racct"),
      wipe: 0,
      express: framework,
    });
    routers.push(r);
    app = framework();
    app.use(r);
  });

  async function create(id: string, query = "ip=10.0.0.1"): Promise<string> {
    const res = await request(app).put(`/webapp/create/${encodeURIComponent(id)}?${query}`);
    expect(res.status).toBe(200);
    return res.body.token as string;
  }

  it("creates with absolute and ua; soid entries carry handle, created and ua", async () => {
    const ua = encodeURIComponent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0");
    const token = await create("rest-a", `ip=10.0.0.1&absolute=600&ua=${ua}`);
    const session = (await request(app).get(`/webapp/get/${token}`).expect(200)).body;
    expect(session.expires - session.created).toBe(600);
    const { sessions } = (await request(app).get("/webapp/soid/rest-a").expect(200)).body;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({
      handle: sessionHandle(token),
      created: expect.any(Number),
      ua: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    });
    const page = (await request(app).get("/webapp/soapp?dt=600&limit=10").expect(200)).body;
    expect(page.sessions[0]).toMatchObject({ handle: expect.any(String), ua: expect.any(String) });
  });

  it("does not take the calling server's own user agent as the user's", async () => {
    const token = await create("rest-noua");
    const session = (await request(app).get(`/webapp/get/${token}`).expect(200)).body;
    expect(session.ua).toBeUndefined();
  });

  it("refuses a bad absolute with 400 ERS_INVALID_ABSOLUTE", async () => {
    for (const absolute of ["5", "abc", "1.5", "999999999999"]) {
      const res = await request(app).put(
        `/webapp/create/rest-bad?ip=10.0.0.1&absolute=${absolute}`,
      );
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("ERS_INVALID_ABSOLUTE");
    }
    expect((await request(app).get("/webapp/soid/rest-bad")).body.sessions).toEqual([]);
  });

  it("kills by handle for the owner's id only", async () => {
    const mine = await create("rest-k");
    const theirs = await create("rest-other");
    const wrongId = await request(app)
      .delete(`/webapp/handle/rest-k/${sessionHandle(theirs)}`)
      .expect(200);
    expect(wrongId.body).toEqual({ kill: 0 });
    expect((await request(app).get(`/webapp/get/${theirs}`)).body.id).toBe("rest-other");
    const killed = await request(app).delete(`/webapp/handle/rest-k/${sessionHandle(mine)}`);
    expect(killed.body).toEqual({ kill: 1 });
    expect((await request(app).get(`/webapp/get/${mine}`)).body).toEqual({});
    const bad = await request(app).delete("/webapp/handle/rest-k/not-a-handle");
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("ERS_INVALID_HANDLE");
  });
});

describe("the request log", () => {
  it("hides the user id of the kill-by-handle route unless ids are on", () => {
    const path = "/webapp/handle/alice%40example.com/AAAAAAAAAAAAAAAAAAAAAA";
    expect(redactPath(path)).toBe("/webapp/handle/:id/AAAAAAAAAAAAAAAAAAAAAA");
    expect(redactPath(path, true)).toBe(path);
  });
});

describe.each(["text", "json"] as const)("serve --log-events (%s)", (format) => {
  const lines: string[] = [];
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve({
      host: "127.0.0.1",
      port: 0,
      router: { redis: redisUrl(), namespace: uniqueNamespace("audit"), wipe: 0 },
      log: false,
      logEvents: true,
      logFormat: format,
      shutdownTimeout: 1000,
      write: (line) => lines.push(line),
    });
  });
  afterAll(() => server?.close());

  it("writes one line per created, rotated and killed session: handles, never a token", async () => {
    const created = await fetch(`${server.url}/webapp/create/auditor?ip=10.0.0.9`, {
      method: "PUT",
    });
    const { token } = (await created.json()) as { token: string };
    const rotated = await fetch(`${server.url}/webapp/rotate/${token}`, { method: "POST" });
    const next = ((await rotated.json()) as { token: string }).token;
    await fetch(`${server.url}/webapp/kill/${next}`, { method: "DELETE" });
    await until(() => lines.length >= 3);
    expect(lines).toHaveLength(3);
    const text = lines.join("");
    expect(text).not.toContain(token);
    expect(text).not.toContain(next);
    if (format === "json") {
      const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(entries.map((e) => e.event)).toEqual(["created", "rotated", "killed"]);
      expect(entries[0]).toMatchObject({
        msg: "session created",
        app: "webapp",
        id: "auditor",
        handle: sessionHandle(token),
      });
      expect(entries[1]).toMatchObject({
        handle: sessionHandle(next),
        previous: sessionHandle(token),
      });
    } else {
      expect(lines[0]).toBe(
        `session created app=webapp id=auditor handle=${sessionHandle(token)}\n`,
      );
      expect(lines[1]).toContain(`previous=${sessionHandle(token)}`);
      expect(lines[2]).toMatch(/^session killed /);
    }
  });
});
