import type { IncomingMessage } from "node:http";
import { isIPv4 } from "node:net";
import type { ErrorReply } from "./errors.js";

/*
 * A server without an API key trusts whoever reaches it, and it listens on loopback so that only
 * this machine can. A web page that its operator opens runs on this machine too: by DNS rebinding
 * (the page's own name re-resolved to 127.0.0.1, so the requests carry that name in Host) it can
 * read and kill every session, and by a cross-site "simple" request (a form POST) it can create
 * them. Development servers refuse both; so does this one when it has no key.
 */

/** The host name of a Host header, lower case, without port, brackets or a final dot. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  const name = h.startsWith("[") ? h.slice(1, h.indexOf("]")) : h.replace(/:\d*$/, "");
  return name.replace(/\.$/, "");
}

function isLoopbackName(name: string): boolean {
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  const v4 = name.startsWith("::ffff:") ? name.slice(7) : name;
  if (isIPv4(v4)) return v4.startsWith("127.");
  return name === "::1" || name === "0:0:0:0:0:0:0:1";
}

/** A check of a request: the reply that refuses it, or undefined. */
export type RequestCheck = (req: IncomingMessage) => ErrorReply | undefined;

function forbidden(
  code: "ERS_FORBIDDEN_HOST" | "ERS_FORBIDDEN_ORIGIN",
  message: string,
): ErrorReply {
  return { status: 403, body: { name: "forbidden", message, code } };
}

/**
 * A check for a server without an API key, listening on `bound`: requests must name a loopback
 * host (localhost, 127.0.0.0/8, [::1]) or `bound` in Host, and must not come from another site's
 * page (an `Origin` other than the server's own, or `Sec-Fetch-Site: cross-site` or `same-site`).
 * Clients that are not browsers send neither header. Returns the 403 reply, or undefined.
 */
export function localOnly(bound: string): RequestCheck {
  const boundName = hostName(bound.includes(":") ? `[${bound}]` : bound);
  return (req) => {
    const host = req.headers.host;
    if (host !== undefined && !isLoopbackName(hostName(host)) && hostName(host) !== boundName) {
      return forbidden(
        "ERS_FORBIDDEN_HOST",
        "Without an API key this server answers only requests to localhost, 127.0.0.1 or [::1] " +
          "(a guard against DNS rebinding); use one of those names, or set an API key",
      );
    }
    const origin = req.headers.origin;
    const site = req.headers["sec-fetch-site"];
    const foreign =
      (origin !== undefined && origin.toLowerCase() !== `http://${host ?? ""}`.toLowerCase()) ||
      site === "cross-site" ||
      site === "same-site";
    if (foreign) {
      return forbidden(
        "ERS_FORBIDDEN_ORIGIN",
        "Without an API key this server refuses requests from web pages of other sites " +
          "(a guard against cross-site requests); call it from a server, or set an API key",
      );
    }
    return undefined;
  };
}
