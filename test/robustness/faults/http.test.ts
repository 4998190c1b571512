import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { describe, expect, it } from "vitest";
import {
  RedisSessions,
  type RequestWithSession,
  redisSessions,
  restSessions,
} from "../../../src/index.js";
import { FaultProxy } from "../../helpers/fault-proxy.js";
import { pace } from "../../helpers/wait.js";
import { withCleanup } from "./scenario.js";
import {
  Load,
  report,
  type Sample,
  startRedisServer,
  summarize,
  TIMEOUT,
  watchUnhandled,
} from "./toolbox.js";

/*
 * The same faults seen through HTTP: the middleware and the REST router on one store, under
 * steady load, while Redis is black-holed and then SIGKILLed and restarted. Pass criteria: every
 * response arrives within the store timeout plus a margin; it is a 200 or a 503 (never a 500 or
 * a hang); a 503 never sets or clears a cookie and the REST one says Retry-After; service is
 * back within 1 s of Redis; no unhandled error.
 */

const APP = "httpfaults";
/** HTTP adds parsing and a loopback round trip on top of the store's own margin. */
const LIMIT = TIMEOUT + 250;

interface Reply {
  path: string;
  status: number;
  setCookie: boolean;
  retryAfter: string | null;
}

describe("faults through the middleware and the REST router", () => {
  it("black hole, then SIGKILL and restart: only 200 or 503, no cookie on a 503, bounded, back within 1 s", async () => {
    await withCleanup(async (defer) => {
      const unhandled = watchUnhandled();
      defer(() => unhandled.stop());
      const server = await startRedisServer({
        args: ["--appendonly", "yes", "--appendfsync", "always"],
      });
      defer(() => server.stop());
      const proxy = await FaultProxy.start(server);
      defer(() => proxy.close());
      const store = new RedisSessions({ redis: proxy.url, timeout: TIMEOUT, wipe: 0 });
      defer(() => store.quit());
      const web = express();
      web.use("/rest", restSessions({ store }));
      web.use(redisSessions({ app: APP, store }));
      web.get("/me", async (req, res) => {
        const session = await (req as unknown as RequestWithSession).rs.get();
        res.json({ id: session?.id ?? null });
      });
      web.post("/touch", async (req, res) => {
        const session = await (req as unknown as RequestWithSession).rs.set({ at: Date.now() });
        res.json({ ok: session !== null });
      });
      web.use(
        (err: { status?: number }, _q: express.Request, res: express.Response, _n: () => void) => {
          res.status(err.status ?? 500).json({ error: true });
        },
      );
      const http: Server = web.listen(0, "127.0.0.1");
      defer(() => new Promise((r) => http.close(r)));
      await new Promise((r) => http.once("listening", r));
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      const { token } = await store.create({ app: APP, id: "u", ip: "10.0.0.1" });

      const call = async (path: string, method = "GET"): Promise<Reply> => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { cookie: `rs.sid=${token}` },
          signal: AbortSignal.timeout(3000),
        });
        await res.arrayBuffer();
        return {
          path,
          status: res.status,
          setCookie: res.headers.has("set-cookie"),
          retryAfter: res.headers.get("retry-after"),
        };
      };
      const paths: [string, string][] = [
        ["/me", "GET"],
        ["/touch", "POST"],
        [`/rest/${APP}/get/${token}`, "GET"],
      ];
      const load = new Load(async (w, i) => {
        const [path, method] = paths[(w + i) % paths.length] as [string, string];
        const reply = await call(path, method);
        if (reply.status !== 200) {
          const err = new Error(`HTTP ${reply.status}`) as Error & { code: string; reply: Reply };
          err.code = `HTTP_${reply.status}`;
          err.reply = reply;
          throw err;
        }
        return reply;
      }, 3);

      await pace(300);
      const holeAt = Date.now();
      proxy.setMode({ kind: "blackhole" });
      await pace(1500);
      proxy.setMode({ kind: "pass" });
      const healedAt = Date.now();
      await pace(800);
      const crashAt = Date.now();
      await server.crash();
      await pace(1000);
      await server.restart();
      const restartedAt = Date.now();
      await pace(1000);
      const samples = await load.stop();

      const problems: string[] = [];
      for (const s of samples) {
        if (s.ms > LIMIT) problems.push(`a request took ${s.ms} ms`);
        if (s.ok) continue;
        const reply = (s.error as { reply?: Reply }).reply;
        if (!reply) problems.push(`no HTTP answer: ${String(s.error)}`);
        else if (reply.status !== 503) problems.push(`HTTP ${reply.status}`);
        else if (reply.setCookie) problems.push("a 503 set a cookie");
        else if (reply.path.startsWith("/rest/") && reply.retryAfter === null) {
          problems.push("a REST 503 without Retry-After");
        }
      }
      const restFailures = samples.filter(
        (s: Sample) => !s.ok && (s.error as { reply?: Reply }).reply?.retryAfter !== null,
      ).length;
      const inWindow = (from: number, to: number) =>
        samples.filter((s) => s.start >= from && s.start < to);
      const afterHole = summarize(inWindow(healedAt, crashAt), healedAt);
      const afterRestart = summarize(inWindow(restartedAt, Date.now()), restartedAt);
      const failed503 = samples.filter((s) => !s.ok).length;
      report("http-blackhole-then-sigkill", {
        requests: samples.length,
        failed503,
        restRetryAfter: restFailures,
        p100DuringBlackholeMs: Math.max(0, ...inWindow(holeAt, healedAt).map((s) => s.ms)),
        p100DuringCrashMs: Math.max(0, ...inWindow(crashAt, restartedAt).map((s) => s.ms)),
        p100Ms: Math.max(...samples.map((s) => s.ms)),
        recoveryAfterBlackholeMs: afterHole.recoveryMs,
        recoveryAfterRestartMs: afterRestart.recoveryMs,
      });
      expect(problems).toEqual([]);
      expect(failed503).toBeGreaterThan(0);
      expect(restFailures).toBeGreaterThan(0);
      expect(afterHole.recoveryMs).toBeLessThanOrEqual(1000);
      expect(afterRestart.recoveryMs).toBeLessThanOrEqual(1000);
      // The session survived (AOF): the last request reads it again.
      expect((await call("/me")).status).toBe(200);
      expect(unhandled.errors).toEqual([]);
    });
  });
});
