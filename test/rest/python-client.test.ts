import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { type RunningServer, serve } from "../../src/rest/serve.js";
import { runProcess } from "../helpers/child.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCRIPT = join(ROOT, "examples", "python-client.py");
const KEY = "python-client-key-93b1f2";
const python = ["python3", "python"].find((bin) => spawnSync(bin, ["--version"]).status === 0);
if (!python) console.warn("[rest-python-client] skipped: no python3 or python on PATH");

/** Runs the example client with `env` added to the environment. */
const run = (env: Record<string, string>) =>
  runProcess(python ?? "python3", [SCRIPT], { env: { ...process.env, ...env } });

describe.skipIf(!python)("examples/python-client.py", () => {
  const namespace = uniqueNamespace("py");
  let server: RunningServer;
  let store: RedisSessions;

  beforeAll(async () => {
    server = await serve({
      host: "127.0.0.1",
      port: 0,
      router: { redis: redisUrl(), namespace, wipe: 0, apiKey: KEY },
      log: false,
      shutdownTimeout: 1000,
      write: () => {},
    });
    store = new RedisSessions({ redis: redisUrl(), namespace, wipe: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await store?.quit();
  });

  it("creates, reads, updates and kills a session through the server (standard library only)", async () => {
    const { code, stdout, stderr } = await run({
      ERS_URL: server.url,
      ERS_API_KEY: KEY,
      ERS_APP: "pyapp",
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const steps = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(steps.map((s) => s.step)).toEqual([
      "create",
      "get",
      "set",
      "kill",
      "get-after-kill",
      "error",
    ]);
    expect(steps[1]).toMatchObject({
      id: "user42",
      ip: "192.0.2.7",
      d: { name: "Ada", visits: 1 },
    });
    expect(steps[2]).toMatchObject({ w: 2, d: { visits: 2, lang: "py" } });
    expect(steps[5]).toMatchObject({
      status: 400,
      name: "invalidFormat",
      code: "ERS_INVALID_TOKEN",
    });
    // The session really went through this namespace and is gone now.
    const token = steps[0]?.token as string;
    expect(token).toMatch(/^[0-9A-Za-z]{64}$/);
    expect(await store.get({ app: "pyapp", token })).toBeNull();
    expect((await store.soid({ app: "pyapp", id: "user42" })).sessions).toEqual([]);
  });

  it("reports the server's 401 as an error when the key is wrong", async () => {
    const { code, stderr } = await run({
      ERS_URL: server.url,
      ERS_API_KEY: "wrong",
      ERS_APP: "pyapp",
    });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/SessionsError: 401 unauthorized \(ERS_UNAUTHORIZED\)/);
  });
});
