import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Methods that change nothing, by HTTP's definition: they need no CSRF token. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** The form field and the header that carry the token. */
export const CSRF_FIELD = "_csrf";
export const CSRF_HEADER = "x-csrf-token";

/** Largest urlencoded body {@link verifyCsrf} reads itself when no body parser ran. */
export const DEFAULT_CSRF_BODY_LIMIT = 65_536;

/** True for a method that needs a CSRF token (POST, PUT, PATCH, DELETE, and any unknown one). */
export function needsCsrf(method: string | undefined): boolean {
  return !SAFE_METHODS.has((method ?? "GET").toUpperCase());
}

/**
 * Compares the token a request sent with the session's, in time that depends only on their
 * length (`timingSafeEqual` on equal-length buffers; a length mismatch fails at once, which
 * reveals only the length, and every token this package makes has the same one).
 */
export function sameToken(sent: string, expected: string): boolean {
  if (sent === "" || expected === "") return false;
  const a = Buffer.from(sent, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

function isUrlencoded(req: IncomingMessage): boolean {
  const type = req.headers["content-type"] ?? "";
  return type.split(";")[0]?.trim().toLowerCase() === "application/x-www-form-urlencoded";
}

/**
 * Reads a urlencoded body of at most `limit` bytes into an object, and leaves it on `req.body`
 * so that the route still sees the form (the stream is consumed). Resolves null when the body
 * is larger than `limit` (it is then drained, not parsed) or the stream fails.
 */
async function readForm(
  req: IncomingMessage,
  limit: number,
): Promise<Record<string, string> | null> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    return null;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      size += buf.length;
      if (size > limit) {
        req.resume();
        return null;
      }
      chunks.push(buf);
    }
  } catch {
    return null;
  }
  const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
  (req as { body?: unknown }).body = form;
  return form;
}

/**
 * The token a request sent: the `x-csrf-token` header, else the `_csrf` field of a body that a
 * parser (express.urlencoded, express.json) already read, else of a urlencoded body read here
 * up to `limit` bytes. "" when there is none.
 */
export async function sentToken(req: IncomingMessage, limit: number): Promise<string> {
  const header = req.headers[CSRF_HEADER];
  if (typeof header === "string" && header !== "") return header;
  const body = (req as { body?: unknown }).body;
  if (typeof body === "object" && body !== null) {
    const field = (body as Record<string, unknown>)[CSRF_FIELD];
    return typeof field === "string" ? field : "";
  }
  // No parser ran (the stream is unread): a plain HTML form, read here.
  if (body === undefined && isUrlencoded(req) && !req.readableEnded) {
    const form = await readForm(req, limit);
    const field = form?.[CSRF_FIELD];
    return typeof field === "string" ? field : "";
  }
  return "";
}
