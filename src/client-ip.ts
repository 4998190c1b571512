import type { IncomingMessage } from "node:http";
import { MAX_IP_LENGTH } from "./validate.js";

/**
 * The client address of a request as the store records it, the same for the middleware and the
 * REST server: Express's `req.ip` when present (it honours "trust proxy"), else the socket's
 * peer; an IPv6 zone (`%eth0`) is dropped and an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is
 * written as IPv4, cut to the 39 characters redis-sessions allows. `"unknown"` when there is none.
 */
export function clientIp(req: IncomingMessage): string {
  const fromExpress = (req as { ip?: unknown }).ip;
  const raw =
    typeof fromExpress === "string" && fromExpress !== "" ? fromExpress : req.socket?.remoteAddress;
  if (!raw) return "unknown";
  const bare = raw.replace(/%.*$/, "");
  const ip = bare.toLowerCase().startsWith("::ffff:") && bare.includes(".") ? bare.slice(7) : bare;
  return ip.slice(0, MAX_IP_LENGTH) || "unknown";
}
