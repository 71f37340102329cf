// The one place where errors become HTTP responses (STYLE.md habit 4). Every
// failure, from a bad body to a store outage, leaves the API in the same shape:
// `{ "error": { "code", "message", "details" } }`.

import type { Context } from "hono";
import { PorpoiseError, type ErrorDetail } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";

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

/**
 * Known errors keep their status and message. Anything else is a bug or an
 * outage: the client gets a generic 500 (internals never leak) and the log
 * gets the cause.
 */
export function errorResponse(err: unknown, c: Context, log: Logger): Response {
  const where = { method: c.req.method, path: c.req.path };
  if (err instanceof PorpoiseError) {
    // 503 is an expected state (store starting or away) that probes hit repeatedly.
    if (err.status === 503) log.warn("not ready", { ...where, reason: err.message, ...causeOf(err) });
    else if (err.status >= 500) log.error("request failed", { ...where, code: err.code, err, ...causeOf(err) });
    return c.json(errorBody(err.code, err.message, err.details), err.status as 400);
  }
  log.error("unhandled error", { ...where, err, ...causeOf(err) });
  return c.json(errorBody("INTERNAL", "internal error: the server log has the cause"), 500);
}

function causeOf(err: unknown): { cause?: unknown } {
  return err instanceof Error && err.cause !== undefined ? { cause: err.cause } : {};
}
