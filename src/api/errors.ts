// The one place where errors become HTTP responses (STYLE.md habit 4). Every
// failure, from a bad body to a store outage, leaves the API in the same shape:
// `{ "error": { "code", "message", "details" } }`.
//
// What a client may see: the message of a 4xx (written for them), and for a
// 503 a retryable message of ours. A 5xx never carries internals (driver
// messages, SQL text, stack traces): the client gets a request id, and the log
// line with the same request id carries the details.

import type { Context } from "hono";
import { PorpoiseError, StoreError, type ErrorDetail } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { isStoreOutage } from "../store/outage.ts";

/** The body was sent with a content type this route does not read. */
export class UnsupportedMediaTypeError extends PorpoiseError {
  constructor(got: string, accepted: string[]) {
    super(
      "UNSUPPORTED_MEDIA_TYPE",
      415,
      `content type "${got}" is not accepted here: send ${accepted.join(" or ")}`,
    );
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: ErrorDetail[] };
}

export function errorBody(code: string, message: string, details: ErrorDetail[] = []): ErrorBody {
  return { error: { code, message, details } };
}

/** Seconds a client should wait before retrying after a store outage answer. */
const OUTAGE_RETRY_AFTER_S = 2;

/** Short, unique enough to find one line in a day of logs. */
function newRequestId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

/**
 * Known 4xx errors keep their status and message. A store that cannot be
 * reached is a 503 the client may retry. Everything else (a bug, a failed
 * query) is a generic 500 naming a request id; the log line has the cause.
 */
export function errorResponse(err: unknown, c: Context, log: Logger): Response {
  const where = { method: c.req.method, path: c.req.path };
  if (err instanceof PorpoiseError && err.status < 500) {
    if (err.status === 429) {
      const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retryAfter !== undefined) c.header("retry-after", String(retryAfter));
    }
    return c.json(errorBody(err.code, err.message, err.details), err.status as 400);
  }
  const requestId = newRequestId();
  c.header("x-request-id", requestId);
  // Our own 503s (not ready, no engine, shutting down) carry messages written for clients.
  if (err instanceof PorpoiseError && err.status === 503 && !(err instanceof StoreError)) {
    log.warn("not ready", { ...where, requestId, reason: err.message, ...causeOf(err) });
    return c.json(errorBody(err.code, err.message, err.details), 503);
  }
  if (isStoreOutage(err)) {
    log.warn("store unavailable", { ...where, requestId, err, ...causeOf(err) });
    c.header("retry-after", String(OUTAGE_RETRY_AFTER_S));
    return c.json(
      errorBody("STORE_UNAVAILABLE", `the store is not reachable at the moment; retry in a few seconds (request id ${requestId})`),
      503,
    );
  }
  log.error("request failed", { ...where, requestId, code: err instanceof PorpoiseError ? err.code : "INTERNAL", err, ...causeOf(err) });
  return c.json(errorBody("INTERNAL", `internal error (request id ${requestId}): the server log has the details`), 500);
}

function causeOf(err: unknown): { cause?: unknown } {
  return err instanceof Error && err.cause !== undefined ? { cause: err.cause } : {};
}
