import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { RedisSessions } from "../store/store.js";
import type { Data } from "../types.js";
import { auditEvents } from "./audit.js";
import { sendError, toErrorReply } from "./errors.js";
import { localOnly, type RequestCheck } from "./local-only.js";
import { requestLogger } from "./logger.js";
import { type RestSessionsOptions, restSessions } from "./router.js";
import { type LogFormat, serverLog } from "./server-log.js";

/** What {@link serve} needs: where to listen, the router's options, logging and shutdown. */
export interface ServeOptions {
  host: string;
  port: number;
  router: RestSessionsOptions;
  /** Log one line per request. */
  log: boolean;
  /** Log user ids in request paths (by default they show as `:id`). */
  logIds?: boolean | undefined;
  /**
   * Log one line per session event (created, rotated, killed, evicted, expired): app, user id
   * and handles, never a token.
   */
  logEvents?: boolean | undefined;
  /** Plain lines (default) or JSON lines (pino) for requests and the server's own messages. */
  logFormat?: LogFormat | undefined;
  /** Longest wait for requests in flight at shutdown before their connections are cut. */
  shutdownTimeout: number;
  /** Where log lines go (stderr in the CLI). */
  write: (line: string) => void;
}

/** A listening server. */
export interface RunningServer {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  readonly url: string;
  /** The store behind the routes (the CLI watches its connection to log Redis' state). */
  readonly store: RedisSessions<Data>;
  /**
   * Stops accepting connections, lets requests in flight finish (up to `shutdownTimeout`),
   * then quits Redis. Safe to call twice.
   */
  close(): Promise<void>;
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string) {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Runs the REST router on a plain `node:http` server (the router answers every path itself, so
 * no Express app is needed around it).
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const router = restSessions(options.router);
  const log = serverLog(options.write, options.logFormat);
  const logger = options.log ? requestLogger(log, { ids: options.logIds }) : undefined;
  const unaudit = options.logEvents ? auditEvents(router.store, log) : () => {};
  // Without an API key, only this machine's own clients: set once the address is bound.
  let refuse: RequestCheck | undefined;
  const inflight = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;

  const server = createServer((req, res) => {
    inflight.add(res);
    res.once("close", () => {
      inflight.delete(res);
      // During shutdown a finished keep-alive connection must not linger until its timeout.
      if (closing) server.closeIdleConnections();
    });
    if (closing) res.setHeader("Connection", "close");
    const run = () => {
      const refused = refuse?.(req);
      if (refused) return sendError(res, refused);
      router(req as never, res as never, (err?: unknown) => {
        // Reached only for an error that the router could not answer itself.
        if (!res.headersSent) sendError(res, toErrorReply(err));
        else res.destroy();
      });
    };
    if (logger) logger(req, res, run);
    else run();
  });
  // Bounded waits for slow or stalled clients, well under Node's 5-minute default.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  let address: AddressInfo;
  try {
    address = await listen(server, options.port, options.host);
  } catch (err) {
    unaudit();
    await router.close();
    throw err;
  }
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  if (options.router.apiKey === undefined) refuse = localOnly(address.address);

  const shutdown = async () => {
    for (const res of inflight) if (!res.headersSent) res.setHeader("Connection", "close");
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const force = setTimeout(() => {
      log.message(
        `shutdown: ${inflight.size} request(s) still open after ${options.shutdownTimeout} ms; closing them`,
        "warn",
      );
      server.closeAllConnections();
    }, options.shutdownTimeout);
    await closed;
    clearTimeout(force);
    unaudit();
    await router.close();
  };

  return {
    url: `http://${host}:${address.port}`,
    store: router.store,
    close: () => {
      closing ??= shutdown();
      return closing;
    },
  };
}
