import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * What the proxy does with traffic:
 * - `pass`: forwards both ways;
 * - `delay`: forwards both ways, each chunk `ms` late;
 * - `blackhole`: accepts and swallows everything, answers nothing, never closes (a lost peer);
 * - `drop-next-reply-then-reset`: forwards requests, but the next reply chunk from Redis is
 *   dropped and the client connection is reset (RST), after which the mode returns to `pass`.
 */
export type ProxyMode =
  | { kind: "pass" }
  | { kind: "delay"; ms: number }
  | { kind: "blackhole" }
  | { kind: "drop-next-reply-then-reset" };

/** A loopback TCP proxy in front of a Redis server, for fault injection in tests. */
export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Applies to every open and future connection from now on. */
  setMode(mode: ProxyMode): void;
  /** Replies dropped so far by `drop-next-reply-then-reset`. */
  readonly dropped: number;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
}

/** Starts a proxy on a free loopback port that forwards to `targetPort`. */
export async function startTcpProxy(
  targetPort: number,
  targetHost = "127.0.0.1",
): Promise<TcpProxy> {
  let mode: ProxyMode = { kind: "pass" };
  let dropped = 0;
  const pairs = new Set<Pair>();
  const timers = new Set<NodeJS.Timeout>();

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const forward = (from: "client" | "server", pair: Pair, chunk: Buffer) => {
    const to = from === "client" ? pair.server : pair.client;
    const m = mode;
    if (m.kind === "blackhole") return;
    if (m.kind === "delay") {
      later(m.ms, () => {
        if (!to.destroyed) to.write(chunk);
      });
      return;
    }
    if (m.kind === "drop-next-reply-then-reset" && from === "server") {
      // The request has reached Redis and run; only its reply is lost, then the link breaks.
      mode = { kind: "pass" };
      dropped++;
      pair.client.resetAndDestroy();
      pair.server.destroy();
      return;
    }
    to.write(chunk);
  };

  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => forward("client", pair, chunk));
    upstream.on("data", (chunk: Buffer) => forward("server", pair, chunk));
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", () => {
      // A black hole never tells the other side that anything happened.
      if (mode.kind !== "blackhole") end();
    });
    upstream.on("close", () => {
      if (mode.kind !== "blackhole") end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    setMode(next) {
      mode = next;
    },
    get dropped() {
      return dropped;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
