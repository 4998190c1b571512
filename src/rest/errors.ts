import type { ServerResponse } from "node:http";
import type { Request, RequestHandler } from "express";
import { isRedisSessionsError } from "../errors.js";

/** Codes of errors that only the REST server raises (the store's own codes are reused as-is). */
export type RestErrorCode =
  | "ERS_UNAUTHORIZED"
  | "ERS_NOT_FOUND"
  | "ERS_INVALID_JSON"
  | "ERS_BODY_TOO_LARGE"
  | "ERS_UNSUPPORTED_MEDIA_TYPE"
  | "ERS_BAD_REQUEST"
  | "ERS_FORBIDDEN_HOST"
  | "ERS_FORBIDDEN_ORIGIN"
  | "ERS_INTERNAL";

/** The body of every error reply: redis-sessions' `name` and `message`, plus a stable `code`. */
export interface ErrorBody {
  name: string;
  message: string;
  code: string;
}

/** An error reply: its HTTP status, JSON body and any extra headers. */
export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
}

/** Writes `body` as JSON with Node's own response API, so the router runs under any framework. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(text));
  // Replies carry session data and tokens: no cache may keep them.
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Content-Type-Options", "nosniff");
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res.end(text);
}

/** Sends an {@link ErrorReply}. */
export function sendError(res: ServerResponse, reply: ErrorReply): void {
  sendJson(res, reply.status, reply.body, reply.headers);
}

/** The reply to a request without a valid API key. */
export function unauthorized(): ErrorReply {
  return {
    status: 401,
    body: {
      name: "unauthorized",
      message: "A valid API key is required (x-api-key header or Authorization: Bearer)",
      code: "ERS_UNAUTHORIZED",
    },
    headers: { "WWW-Authenticate": 'Bearer realm="express-redis-sessions"' },
  };
}

/** The reply to a path or method that no route serves. The path is not echoed: it may hold a token. */
export function notFound(): ErrorReply {
  return {
    status: 404,
    body: { name: "notFound", message: "Unknown route", code: "ERS_NOT_FOUND" },
  };
}

// The `type` that body-parser (Express 4 and 5) puts on the errors it raises.
interface ParserError {
  type?: unknown;
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
  limit?: unknown;
}

function fromParser(err: ParserError): ErrorReply | undefined {
  if (err.type === "entity.too.large") {
    const limit = typeof err.limit === "number" ? ` of ${err.limit} bytes` : "";
    return {
      status: 413,
      body: {
        name: "limitExceeded",
        message: `Request body exceeds the limit${limit}`,
        code: "ERS_BODY_TOO_LARGE",
      },
    };
  }
  if (err.type === "entity.parse.failed") {
    return {
      status: 400,
      body: {
        name: "invalidFormat",
        message: "Request body is not valid JSON (an object is expected)",
        code: "ERS_INVALID_JSON",
      },
    };
  }
  if (err.type === "encoding.unsupported" || err.type === "charset.unsupported") {
    return {
      status: 415,
      body: {
        name: "invalidFormat",
        message: "Unsupported body encoding or charset",
        code: "ERS_UNSUPPORTED_MEDIA_TYPE",
      },
    };
  }
  return undefined;
}

/**
 * Maps any error to a reply: store errors keep their name, message, code and status (400 bad
 * input, 413 limits, 503 Redis down); body-parser errors become 400/413/415; client errors
 * raised by the framework (a malformed URL) keep their status; anything else is a 500 whose
 * details go to stderr, never to the client.
 */
export function toErrorReply(err: unknown): ErrorReply {
  if (isRedisSessionsError(err)) {
    const reply: ErrorReply = {
      status: err.status,
      body: {
        name: err.name,
        // A 503's message can name hosts and ports; the code says enough to the client.
        message: err.expose ? err.message : "The session store is unavailable",
        code: err.code,
      },
    };
    if (err.status === 503) reply.headers = { "Retry-After": "1" };
    return reply;
  }
  if (typeof err === "object" && err !== null) {
    const parsed = fromParser(err as ParserError);
    if (parsed) return parsed;
    const { status, statusCode, expose, message } = err as ParserError;
    const code = typeof status === "number" ? status : statusCode;
    if (typeof code === "number" && code >= 400 && code < 500) {
      return {
        status: code,
        body: {
          name: "badRequest",
          message: expose === true && typeof message === "string" ? message : "Bad request",
          code: "ERS_BAD_REQUEST",
        },
      };
    }
  }
  // Never expected: Express' own final handler logs such errors the same way.
  console.error("express-redis-sessions: internal error in the REST router:", err);
  return {
    status: 500,
    body: { name: "internalError", message: "Internal server error", code: "ERS_INTERNAL" },
  };
}

/** An async route of the REST router. */
export type AsyncRoute = (req: Request, res: ServerResponse) => Promise<void>;

// Express 4 ignores rejected promises: every handler hands its failure to next() itself.
export function handle(fn: AsyncRoute): RequestHandler {
  return (req, res, next) => {
    fn(req, res).catch(next);
  };
}
