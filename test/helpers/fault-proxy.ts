import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/*
 * The one TCP fault proxy of the test suites: a loopback proxy in front of a Redis server that
 * can delay, hold, swallow or cut the traffic of every connection or of one chosen connection.
 * Nothing here fakes Redis: every byte that flows goes to and comes from a real server.
 */

/** What the proxy does with the bytes of a connection. */
export type ProxyMode =
  /** Forward both ways at once. */
  | { kind: "pass" }
  /** Forward after `up` ms (client→server) and `down` ms (server→client), order kept. */
  | { kind: "delay"; up?: number; down?: number }
  /**
   * Forward nothing and send nothing back, without closing anything: a partition or a dead
   * link. By default bytes are held, not lost, and flow again when the mode changes, just as TCP
   * retransmits after a partition heals (a stream that silently lost bytes would not be TCP).
   * With `swallow`, bytes that arrive meanwhile are discarded instead: requests sent into the
   * hole never reach Redis and never get a reply, even after the mode changes.
   */
  | { kind: "blackhole"; swallow?: boolean }
  /**
   * Forward requests at once but hold every reply until the mode changes (a slow return path):
   * Redis has run the commands, their replies wait in the proxy. The connection's counters say
   * when a reply has arrived.
   */
  | { kind: "holdReplies" }
  /**
   * Forward requests; swallow the next chunk of replies, then reset both sockets: the server
   * applied a command whose reply never arrived. The connection's mode is `pass` afterwards.
   */
  | { kind: "dropNextReplyThenReset" };

/** Totals of a proxy, over all its connections. */
export interface ProxyStats {
  /** Connections accepted. */
  accepted: number;
  bytesUp: number;
  bytesDown: number;
  /** Replies dropped (and connections reset) by `dropNextReplyThenReset`. */
  dropped: number;
}

interface Queued {
  chunk: Buffer;
  due: number;
}

type Direction = "up" | "down";

/** One client connection through the proxy and its upstream socket. */
export class ProxyConnection {
  mode: ProxyMode;
  /**
   * The upstream socket's local address, `host:port`: the `addr` Redis shows for this
   * connection in `CLIENT LIST`. Empty until the upstream socket has connected.
   */
  redisAddr = "";
  /** Chunks received from the client so far (requests; also those held or swallowed). */
  requests = 0;
  /** Chunks received from Redis so far (replies; counted on arrival, also while held). */
  replies = 0;
  private readonly up: Queued[] = [];
  private readonly down: Queued[] = [];
  private upTimer: NodeJS.Timeout | undefined;
  private downTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    mode: ProxyMode,
    private readonly stats: ProxyStats,
    private readonly onClose: (c: ProxyConnection) => void,
  ) {
    this.mode = mode;
    client.on("data", (chunk: Buffer) => this.push("up", chunk));
    server.on("data", (chunk: Buffer) => this.push("down", chunk));
    server.on("connect", () => {
      this.redisAddr = `${server.localAddress}:${server.localPort}`;
      this.pump("up");
    });
    const end = () => this.destroy(false);
    for (const s of [client, server]) {
      s.on("error", end);
      s.on("close", end);
    }
  }

  /** Changes the mode; held bytes flow again unless the new mode holds them too. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    this.pump("up");
    this.pump("down");
  }

  /** Chunks of replies from Redis held or delayed here, not yet passed to the client. */
  get repliesHeld(): number {
    return this.down.length;
  }

  /** Closes both sockets; `reset` sends an RST to the client instead of a FIN. */
  destroy(reset = true): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.upTimer);
    clearTimeout(this.downTimer);
    if (reset && typeof this.client.resetAndDestroy === "function") this.client.resetAndDestroy();
    else this.client.destroy();
    this.server.destroy();
    this.onClose(this);
  }

  private delayOf(direction: Direction): number {
    const m = this.mode;
    if (m.kind !== "delay") return 0;
    return (direction === "up" ? m.up : m.down) ?? 0;
  }

  /** Whether bytes going `direction` wait in the proxy in the current mode. */
  private holds(direction: Direction): boolean {
    const m = this.mode;
    return m.kind === "blackhole" || (m.kind === "holdReplies" && direction === "down");
  }

  private push(direction: Direction, chunk: Buffer): void {
    if (this.closed) return;
    if (direction === "up") this.requests++;
    else this.replies++;
    const m = this.mode;
    if (direction === "down" && m.kind === "dropNextReplyThenReset") {
      // The reply is gone; the server has applied the command. Cut the connection.
      this.mode = { kind: "pass" };
      this.stats.dropped++;
      this.destroy(true);
      return;
    }
    if (direction === "up") this.stats.bytesUp += chunk.length;
    else this.stats.bytesDown += chunk.length;
    if (m.kind === "blackhole" && m.swallow) return;
    const queue = direction === "up" ? this.up : this.down;
    const last = queue.at(-1)?.due ?? 0;
    queue.push({ chunk, due: Math.max(Date.now() + this.delayOf(direction), last) });
    this.pump(direction);
  }

  private pump(direction: Direction): void {
    if (this.closed || this.holds(direction)) return;
    const queue = direction === "up" ? this.up : this.down;
    const target = direction === "up" ? this.server : this.client;
    if (direction === "up" && this.server.connecting) return;
    const now = Date.now();
    while (queue.length && (queue[0] as Queued).due <= now) {
      target.write((queue.shift() as Queued).chunk);
    }
    const timer = direction === "up" ? this.upTimer : this.downTimer;
    clearTimeout(timer);
    if (!queue.length) return;
    const next = setTimeout(() => this.pump(direction), (queue[0] as Queued).due - now);
    if (direction === "up") this.upTimer = next;
    else this.downTimer = next;
  }
}

/**
 * A TCP proxy in front of a Redis server for fault injection. `setMode` applies to every open
 * connection and to new ones; `ProxyConnection.setMode` to one connection only.
 */
export class FaultProxy {
  readonly connections = new Set<ProxyConnection>();
  /** Connections, bytes and dropped replies seen so far. */
  readonly stats: ProxyStats = { accepted: 0, bytesUp: 0, bytesDown: 0, dropped: 0 };
  private mode: ProxyMode = { kind: "pass" };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /** Listens on a free loopback port and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client));
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    proxy = new FaultProxy(server, port, { host: target.host, port: target.port });
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Sets the mode of every open connection and of connections accepted later. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    for (const c of this.connections) c.setMode(mode);
  }

  /** Chunks of replies held or delayed on their way to clients, over every connection. */
  heldReplies(): number {
    let n = 0;
    for (const c of this.connections) n += c.repliesHeld;
    return n;
  }

  /** Resets every open connection (RST to the client). */
  resetAll(): void {
    for (const c of [...this.connections]) c.destroy(true);
  }

  /** The open connection that Redis lists as `addr` (`host:port`, from `CLIENT LIST`). */
  byRedisAddr(addr: string): ProxyConnection | undefined {
    for (const c of this.connections) if (c.redisAddr === addr) return c;
    return undefined;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.stats.accepted++;
    const server = tcpConnect({ host: this.target.host, port: this.target.port });
    // Without these, Nagle's algorithm meets delayed ACKs and holds small replies for ~40 ms.
    client.setNoDelay(true);
    server.setNoDelay(true);
    const conn = new ProxyConnection(
      client,
      server,
      this.mode.kind === "dropNextReplyThenReset" ? { kind: "pass" } : this.mode,
      this.stats,
      (c) => this.connections.delete(c),
    );
    this.connections.add(conn);
  }
}
