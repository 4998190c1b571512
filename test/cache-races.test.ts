import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../src/index.js";
import { uniqueNamespace } from "./helpers/context.js";
import { type RedisServer, startRedisServer } from "./helpers/redis-server.js";

/**
 * The races that made redis-sessions 4.0.0's cache serve killed sessions (10 of 10 in the
 * reference's E14), each repeated 100 times: a single stale read fails the test.
 */

const TRIALS = 100;
const app = "raceapp";

/** One proxied connection: while `held`, replies from Redis wait in `queue`. */
interface Link {
  client: Socket;
  upstream: Socket;
  held: boolean;
  queue: Buffer[];
  replies: number;
}

function release(link: Link): void {
  link.held = false;
  for (const chunk of link.queue.splice(0)) link.client.write(chunk);
}

/** A loopback TCP proxy in front of Redis that can hold back the replies of chosen connections. */
class ReplyDelayProxy {
  readonly links: Link[] = [];
  private server: Server | undefined;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.target);
      // Without this, Nagle's algorithm meets delayed ACKs and holds small replies for ~40 ms.
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const link: Link = { client, upstream, held: false, queue: [], replies: 0 };
      this.links.push(link);
      client.on("data", (chunk) => upstream.write(chunk));
      upstream.on("data", (chunk) => {
        link.replies++;
        if (link.held) link.queue.push(chunk);
        else client.write(chunk);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", close);
      upstream.on("error", close);
      client.on("close", close);
      upstream.on("close", close);
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
  }

  /** The link whose upstream socket Redis sees at `addr` (from CLIENT LIST). */
  byRedisAddr(addr: string): Link | undefined {
    return this.links.find((l) => `127.0.0.1:${l.upstream.localPort}` === addr);
  }

  async stop(): Promise<void> {
    for (const l of this.links) {
      l.client.destroy();
      l.upstream.destroy();
    }
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}

let server: RedisServer;
let raw: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
});

afterAll(async () => {
  raw.disconnect();
  await server.stop();
});

describe("cache races (100 trials each, zero stale reads)", () => {
  it("a get whose reply arrives after a remote kill does not fill the cache", async () => {
    const proxy = new ReplyDelayProxy({ host: server.host, port: server.port });
    await proxy.start();
    const ns = uniqueNamespace();
    const cached = new RedisSessions({
      redis: `redis://127.0.0.1:${proxy.port}`,
      namespace: ns,
      cachetime: 60,
      wipe: 0,
    });
    const remote = new RedisSessions({ redis: server.url, namespace: ns, wipe: 0 });
    try {
      await until(() => cached.cacheStats().active);
      // Hold back the replies of the cached store's command connection, as a slow network path
      // would, while invalidations reach its subscriber promptly.
      const subs = (await raw.call("CLIENT", "LIST", "TYPE", "pubsub")) as string;
      const subAddr = /addr=(\S+)/.exec(subs)?.[1] ?? "";
      const sub = proxy.byRedisAddr(subAddr);
      const main = proxy.links.find((l) => l !== sub);
      if (!sub || !main) throw new Error("expected a command and a subscriber connection");
      // Load the get script first: a NOSCRIPT round trip would otherwise run the get after the kill.
      await cached.get({ app, token: "0".repeat(64) });
      let stale = 0;
      for (let i = 0; i < TRIALS; i++) {
        const { token } = await remote.create({ app, id: `u${i}`, ip: "::1" });
        main.held = true;
        const before = main.replies;
        const messages = sub.replies;
        const racing = cached.get({ app, token });
        // Redis has answered the get (the reply waits in the proxy): now kill remotely, and let
        // the invalidation reach the subscriber before the get's reply goes on.
        await until(() => main.replies > before);
        await remote.kill({ app, token });
        await until(() => sub.replies > messages);
        await new Promise((r) => setImmediate(r));
        release(main);
        // The get ran before the kill, so it may return the session; it must not cache it.
        expect((await racing)?.id).toBe(`u${i}`);
        if ((await cached.get({ app, token })) !== null) stale++;
      }
      expect(stale).toBe(0);
    } finally {
      await cached.quit();
      await remote.quit();
      await proxy.stop();
    }
  });

  it("a kill published while the subscriber reconnects is never masked by the cache", async () => {
    const ns = uniqueNamespace();
    const cached = new RedisSessions({ redis: server.url, namespace: ns, cachetime: 60, wipe: 0 });
    const remote = new RedisSessions({ redis: server.url, namespace: ns, wipe: 0 });
    try {
      let stale = 0;
      for (let i = 0; i < TRIALS; i++) {
        await until(() => cached.cacheStats().active);
        const { token } = await remote.create({ app, id: `u${i}`, ip: "::1" });
        await cached.get({ app, token });
        expect(cached.cacheStats().size).toBe(1);
        const flushes = cached.cacheStats().flushes;
        await raw.call("CLIENT", "KILL", "TYPE", "pubsub");
        await until(() => cached.cacheStats().flushes > flushes);
        // The subscriber is reconnecting: this kill's message reaches nobody.
        await remote.kill({ app, token });
        if ((await cached.get({ app, token })) !== null) stale++;
        await until(() => cached.cacheStats().active);
        if ((await cached.get({ app, token })) !== null) stale++;
      }
      expect(stale).toBe(0);
    } finally {
      await cached.quit();
      await remote.quit();
    }
  });

  it("serves nothing from before a Redis restart", async () => {
    const own = await startRedisServer();
    const cached = new RedisSessions({ redis: own.url, cachetime: 60, wipe: 0 });
    try {
      let stale = 0;
      const trials = TRIALS;
      for (let i = 0; i < trials; i++) {
        await until(() => cached.cacheStats().active);
        const { token } = await cached.create({ app, id: `u${i}`, ip: "::1" });
        expect(await cached.get({ app, token })).not.toBeNull();
        // The server keeps nothing on disk: after the restart the session is gone.
        await own.crash();
        await own.restart();
        await until(async () => {
          try {
            await cached.ping();
            return true;
          } catch {
            return false;
          }
        });
        if ((await cached.get({ app, token })) !== null) stale++;
      }
      expect(stale).toBe(0);
    } finally {
      await cached.quit();
      await own.stop();
    }
  }, 60_000);
});
