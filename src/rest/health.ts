import type { Router } from "express";
import type { RedisSessions } from "../store/store.js";
import type { Data } from "../types.js";
import type { Middleware } from "./auth.js";
import { handle, sendJson, toErrorReply } from "./errors.js";

/** `GET /ping` (rest-sessions' bare PONG) and `GET /health` (JSON, 503 when Redis is down). */
export function mountHealth(
  router: Router,
  store: RedisSessions<Data>,
  healthGuard: Middleware[],
): void {
  router.get(
    "/ping",
    ...healthGuard,
    handle(async (_req, res) => {
      const pong = await store.ping();
      // rest-sessions sent the bare word PONG (not a JSON string); clients compare that text.
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.setHeader("Cache-Control", "no-store");
      res.end(pong);
    }),
  );

  router.get(
    "/health",
    ...healthGuard,
    handle(async (_req, res) => {
      const start = performance.now();
      try {
        await store.ping();
        const latencyMs = Math.round((performance.now() - start) * 10) / 10;
        sendJson(res, 200, { status: "ok", redis: "up", latencyMs });
      } catch (err) {
        sendJson(res, 503, {
          status: "unavailable",
          redis: "down",
          code: toErrorReply(err).body.code,
        });
      }
    }),
  );
}
