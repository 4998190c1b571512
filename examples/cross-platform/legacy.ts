import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { createRequire } from "node:module";

/**
 * The "old" service: plain node:http on the real redis-sessions 4.0.0 (npm), as an app that has
 * not moved yet would be. It reads and writes the very sessions the Express app creates, and the
 * Express app accepts the sessions it creates: same keys, same data, same tokens.
 */

// redis-sessions 4 is CommonJS with only `exports.default`; require() reads it the same way under
// every loader (an ESM default import gives module.exports in Node, the class in bundlers).
const V4 = (createRequire(import.meta.url)("redis-sessions") as typeof import("redis-sessions"))
  .default;

/** The data both services keep in `d`. */
export type ShopData = { cart: number; points: number };

/** A redis-sessions 4.0.0 store. */
export type LegacyStore = InstanceType<typeof V4<ShopData>>;

/** Opens redis-sessions 4.0.0 on `url`; "rs" is the default namespace of both packages. */
export function openLegacyStore(url: string, namespace = "rs"): LegacyStore {
  // wipe: 0 leaves expiry to the new store's wiper (one wiper per Redis is enough).
  return new V4<ShopData>({ options: { url }, namespace, wipe: 0 });
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(value));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 16_384) throw new Error("body too large");
  }
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function bearer(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? "";
  return auth.startsWith("Bearer ") ? auth.slice(7) : "";
}

/** The legacy service: `POST /legacy/login`, `GET /legacy/me`, `POST /legacy/points`. */
export function createLegacyApp(rs: LegacyStore, app: string): RequestListener {
  const routes: Record<string, (req: IncomingMessage) => Promise<[number, unknown]>> = {
    "POST /legacy/login": async (req) => {
      const { user } = await readJson(req);
      const { token } = await rs.create({
        app,
        id: String(user),
        ip: req.socket.remoteAddress ?? "unknown",
        ttl: 7200,
        d: { cart: 0, points: 0 },
      });
      return [201, { token }];
    },
    "GET /legacy/me": async (req) => {
      const token = bearer(req);
      if (!token) return [401, { error: "no session" }];
      const session = await rs.get({ app, token });
      return session ? [200, { user: session.id, d: session.d }] : [401, { error: "no session" }];
    },
    "POST /legacy/points": async (req) => {
      const token = bearer(req);
      const { add } = await readJson(req);
      if (!token) return [401, { error: "no session" }];
      const session = await rs.get({ app, token });
      if (!session) return [401, { error: "no session" }];
      const points = (session.d?.points ?? 0) + Number(add ?? 1);
      const updated = await rs.set({ app, token, d: { points } });
      return [200, { user: updated?.id, d: updated?.d }];
    },
  };
  return (req, res) => {
    const route = routes[`${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`];
    if (!route) return send(res, 404, { error: "not found" });
    route(req).then(
      ([status, body]) => send(res, status, body),
      // redis-sessions 4 throws plain errors with a `name` such as "invalidFormat".
      (err: Error) => send(res, err.name === "Error" ? 500 : 400, { error: err.name }),
    );
  };
}
