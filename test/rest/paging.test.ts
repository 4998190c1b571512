import express from "express";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import { type RestSessionsRouter, restSessions } from "../../src/index.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

/*
 * The REST routes' paged listings (`?limit=&cursor=`) and session count, in both layouts: pages
 * add up to the whole listing, and a bad limit or cursor is a 400 before any Redis command.
 */

const routers: RestSessionsRouter[] = [];
afterAll(async () => {
  await Promise.all(routers.map((r) => r.close()));
});

for (const layout of ["compat", "cluster"] as const) {
  describe(`paged REST listings, ${layout} layout`, () => {
    function setup(redis = redisUrl()) {
      const router = restSessions({ redis, layout, namespace: uniqueNamespace("rp"), wipe: 0 });
      routers.push(router);
      const app = express();
      app.use(router);
      return { app, store: router.store };
    }

    async function walk(app: express.Express, path: string, limit: number) {
      const tokens: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `${path}${path.includes("?") ? "&" : "?"}limit=${limit}${
          cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""
        }`;
        const res = await request(app).get(url).expect(200);
        expect(Object.keys(res.body)).toEqual(["sessions", "cursor"]);
        expect(res.body.sessions.length).toBeLessThanOrEqual(limit);
        tokens.push(...res.body.sessions.map((s: { token: string }) => s.token));
        cursor = res.body.cursor;
      } while (cursor !== null);
      return tokens;
    }

    it("pages through soapp and soid; without limit the reply is rest-sessions' own", async () => {
      const { app, store } = setup();
      const made = await Promise.all(
        Array.from({ length: 130 }, (_, i) =>
          store.create({ app: "shop", id: i % 2 ? "odd" : `even${i}`, ip: "1" }),
        ),
      );
      const whole = await request(app).get("/shop/soapp?dt=600").expect(200);
      expect(Object.keys(whole.body)).toEqual(["sessions"]);
      expect(whole.body.sessions).toHaveLength(130);
      const all = whole.body.sessions.map((s: { token: string }) => s.token);
      expect(await walk(app, "/shop/soapp?dt=600", 17)).toEqual(all);
      const odd = (await walk(app, "/shop/soid/odd", 9)).sort();
      expect(odd).toEqual(
        made
          .filter((_, i) => i % 2)
          .map((m) => m.token)
          .sort(),
      );
      expect((await request(app).get("/shop/count?dt=600").expect(200)).body).toEqual({
        count: 130,
      });
    });

    it("answers 400 to a bad limit or cursor, without asking Redis", async () => {
      // Nothing listens on port 1: a request that reached Redis would answer 503.
      const { app } = setup("redis://127.0.0.1:1");
      for (const [path, code] of [
        ["/shop/soapp?dt=60&limit=0", "ERS_INVALID_LIMIT"],
        ["/shop/soapp?dt=60&limit=1001", "ERS_INVALID_LIMIT"],
        ["/shop/soapp?dt=60&limit=", "ERS_INVALID_LIMIT"],
        ["/shop/soapp?dt=60&cursor=s1_00", "ERS_INVALID_LIMIT"],
        ["/shop/soapp?dt=60&limit=5&cursor=%00", "ERS_INVALID_CURSOR"],
        ["/shop/soapp?dt=60&limit=5&cursor=s12_0", "ERS_INVALID_CURSOR"],
        ["/shop/soid/u1?limit=5&cursor=m1e99999_00", "ERS_INVALID_CURSOR"],
        ["/shop/count?dt=5", "ERS_INVALID_DELTATIME"],
      ] as const) {
        const res = await request(app).get(path);
        expect(res.status, path).toBe(400);
        expect(res.body.code, path).toBe(code);
      }
      expect((await request(app).get("/shop/soapp?dt=60&limit=5")).status).toBe(503);
    });
  });
}
