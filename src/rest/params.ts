import type { IncomingMessage } from "node:http";
import type { Request } from "express";
import type { PageParams, Seconds } from "../types.js";
import { validAbsolute } from "../validate-account.js";

/** The query string of a request. */
export function query(req: IncomingMessage): URLSearchParams {
  // Parsed here rather than by the framework, so that Express 4's qs, Express 5's parser and
  // Connect (none) all give the same strings.
  return new URL(req.url ?? "/", "http://localhost").searchParams;
}

/** A route parameter, "" when absent. */
export function param(req: Request, name: string): string {
  const value: unknown = req.params[name];
  return typeof value === "string" ? value : "";
}

/** `limit` and `cursor` from the query, when there (the store checks both). */
export function page(q: URLSearchParams): Partial<PageParams> {
  const limit = q.get("limit");
  const cursor = q.get("cursor");
  if (limit === null) return cursor === null ? {} : { cursor };
  return { limit, cursor };
}

/** The `absolute` of a query, checked (digits, 10 to ten years); undefined when absent. */
export function absoluteOf(text: string | null): Seconds | undefined {
  return validAbsolute(text === "" ? undefined : (text ?? undefined));
}
