import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Serves an example app on 127.0.0.1:$PORT (or `defaultPort`) and prints where to open it; on
 * Ctrl+C or SIGTERM closes the server, then the store.
 *
 * @param describe what to print for the URL the server got, e.g. `open ${url}`.
 */
export function serveExample(
  name: string,
  app: { listen(port: number, host: string, done: (err?: Error) => void): Server },
  store: { quit(): Promise<void> },
  defaultPort: number,
  describe: (url: string) => string,
): void {
  const port = Number(process.env.PORT ?? defaultPort);
  const server = app.listen(port, "127.0.0.1", (err?: Error) => {
    if (err) {
      console.error(`${name}: cannot listen on 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    }
    const { port: actual } = server.address() as AddressInfo;
    console.log(`${name}: ${describe(`http://127.0.0.1:${actual}/`)} (Ctrl+C stops)`);
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      server.close(() => void store.quit());
      server.closeIdleConnections();
    });
  }
}
