import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { needsCsrf, sameToken, sentToken } from "../../src/middleware/csrf.js";

/*
 * The CSRF check's parts without a session: which methods need a token, the comparison, and
 * where a request's token is read from (header, parsed body, or a urlencoded body read here).
 */

describe("needsCsrf", () => {
  it("exempts GET, HEAD, OPTIONS and TRACE only", () => {
    for (const m of ["GET", "head", "OPTIONS", "TRACE"]) expect(needsCsrf(m)).toBe(false);
    for (const m of ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"]) expect(needsCsrf(m)).toBe(true);
  });
});

describe("sameToken", () => {
  const token = "q1Xv3kZ0bC9yN2mL4pR7sT8uW5aE6dF0gH1iJ2kL3mN";
  it("accepts the same token only", () => {
    expect(sameToken(token, token)).toBe(true);
    expect(sameToken(`${token.slice(0, -1)}O`, token)).toBe(false);
  });
  it("refuses other lengths, empty strings and multi-byte look-alikes", () => {
    expect(sameToken(token.slice(1), token)).toBe(false);
    expect(sameToken(`${token}x`, token)).toBe(false);
    expect(sameToken("", "")).toBe(false);
    expect(sameToken("é", "e")).toBe(false);
  });
});

describe("sentToken", () => {
  let url: string;
  const server = createServer((req, res) => {
    const parsed = req.headers["x-parsed"];
    if (typeof parsed === "string") (req as { body?: unknown }).body = JSON.parse(parsed);
    void sentToken(req, 64).then((token) => {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ token, body: (req as IncomingMessage & { body?: unknown }).body }));
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function send(headers: Record<string, string>, body?: string) {
    const res = await fetch(url, { method: "POST", headers, body });
    return (await res.json()) as { token: string; body: unknown };
  }
  const form = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };

  it("prefers the header", async () => {
    expect((await send({ ...form, "x-csrf-token": "h" }, "_csrf=f")).token).toBe("h");
  });

  it("reads _csrf of a body a parser left, and of a urlencoded body it reads itself", async () => {
    expect((await send({ "x-parsed": '{"_csrf":"p"}' })).token).toBe("p");
    expect((await send({ "x-parsed": '{"_csrf":1}' })).token).toBe("");
    const own = await send(form, "a=1&_csrf=t%2Bok&__proto__=x");
    expect(own.token).toBe("t+ok");
    // A field named __proto__ stays a plain field.
    expect(own.body).toEqual(JSON.parse('{"a":"1","_csrf":"t+ok","__proto__":"x"}'));
  });

  it("reads nothing from other bodies, and nothing past its limit", async () => {
    expect((await send({ "content-type": "text/plain" }, "_csrf=t")).token).toBe("");
    expect((await send(form, `_csrf=t&pad=${"x".repeat(100)}`)).token).toBe("");
  });
});
