/*
 * MONITOR over a plain socket. ioredis' monitor() switches its parser to monitor lines only after
 * the MONITOR reply's promise settles, so lines that arrive in the same TCP chunk as that "+OK"
 * reach its command queue and throw "Command queue state error" (seen in CI on a busy server).
 */
import { connect } from "node:net";

/** One command as MONITOR printed it. */
export interface MonitorLine {
  /** The command and its arguments, unquoted. */
  args: string[];
  /** The client's `ip:port` (or `unix:path`, `lua`). */
  source: string;
}

/** A MONITOR connection: every line since it became ready, in the server's order. */
export interface Monitor {
  lines: MonitorLine[];
  close(): void;
}

const ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8 };

/** Splits the quoted arguments MONITOR prints (`"GET" "a\"b" "\xc3\xa9"`) into UTF-8 strings. */
export function parseMonitorArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      i++;
      continue;
    }
    const bytes: number[] = [];
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        const next = text[i + 1] ?? "";
        if (next === "x") {
          bytes.push(Number.parseInt(text.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          bytes.push(ESCAPES[next] ?? next.charCodeAt(0));
          i += 2;
        }
      } else {
        bytes.push(text.charCodeAt(i++));
      }
    }
    args.push(Buffer.from(bytes).toString("utf8"));
    i++;
  }
  return args;
}

/** Parses one MONITOR line: `+<time> [<db> <source>] "cmd" "arg" ...`. */
export function parseMonitorLine(line: string): MonitorLine | undefined {
  const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
  if (!m) return undefined;
  return { source: m[1] as string, args: parseMonitorArgs(m[2] as string) };
}

/** Opens MONITOR on `host:port` and resolves once the server has answered +OK. */
export function openMonitor(host: string, port: number): Promise<Monitor> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const lines: MonitorLine[] = [];
    const monitor: Monitor = { lines, close: () => socket.destroy() };
    let buffer = "";
    let ready = false;
    socket.setEncoding("latin1");
    socket.on("error", (err) => {
      if (!ready) reject(err);
    });
    socket.on("connect", () => socket.write("MONITOR\r\n"));
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf("\r\n");
      while (end >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\r\n");
        if (!ready) {
          if (line !== "+OK") {
            socket.destroy();
            reject(new Error(`MONITOR answered ${line}`));
            return;
          }
          ready = true;
          resolve(monitor);
          continue;
        }
        const parsed = parseMonitorLine(line);
        if (parsed) lines.push(parsed);
      }
    });
  });
}
