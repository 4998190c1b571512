import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientIp } from "../../src/client-ip.js";

/** A request as Node (and Express, with `ip`) would hand it over. */
function request(remoteAddress: string | undefined, ip?: string): IncomingMessage {
  return { socket: { remoteAddress }, ...(ip === undefined ? {} : { ip }) } as IncomingMessage;
}

describe("clientIp: one normaliser for the middleware and the REST server", () => {
  it.each([
    ["127.0.0.1", undefined, "127.0.0.1"],
    ["::ffff:127.0.0.1", undefined, "127.0.0.1"],
    ["::FFFF:10.1.2.3", undefined, "10.1.2.3"],
    ["fe80::1%eth0", undefined, "fe80::1"],
    ["::1", undefined, "::1"],
    // Express's req.ip (which honours "trust proxy") wins over the socket.
    ["10.0.0.1", "203.0.113.9", "203.0.113.9"],
    ["10.0.0.1", "::ffff:203.0.113.9", "203.0.113.9"],
    [undefined, undefined, "unknown"],
    ["", "", "unknown"],
    [
      "1111:2222:3333:4444:5555:6666:7777:8888%verylongzone",
      undefined,
      "1111:2222:3333:4444:5555:6666:7777:8888",
    ],
  ])("socket %j, req.ip %j → %j", (remote, ip, expected) => {
    expect(clientIp(request(remote, ip))).toBe(expected);
  });

  it("never returns more than the 39 characters redis-sessions accepts", () => {
    expect(clientIp(request("x".repeat(100)))).toHaveLength(39);
  });
});
