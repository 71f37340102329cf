// One error family for the whole program. The API maps these to
// `{ "error": { "code", "message", "details" } }` in one place (src/api/errors.ts);
// the CLI maps them to exit codes in src/main.ts.

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `tasks.3.deps.0`; empty for the whole input. */
  path: string;
  message: string;
}

export class PorpoiseError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: ErrorDetail[];

  constructor(code: string, status: number, message: string, opts: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = opts.details ?? [];
  }
}

/** Bad input: a body, a flag, a workflow file. 400 / exit 2. */
export class ValidationError extends PorpoiseError {
  constructor(message: string, details: ErrorDetail[] = [], cause?: unknown) {
    super("VALIDATION_FAILED", 400, message, { details, cause });
  }
}

/** Bad configuration (flags, env, config file). Exit code 2. */
export class ConfigError extends PorpoiseError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super("CONFIG_INVALID", 400, message, { details });
  }
}

export class UnauthorizedError extends PorpoiseError {
  constructor(message = "missing, expired or revoked token: send `Authorization: Bearer <token>`") {
    super("UNAUTHORIZED", 401, message);
  }
}

export class ForbiddenError extends PorpoiseError {
  constructor(message: string) {
    super("FORBIDDEN", 403, message);
  }
}

export class NotFoundError extends PorpoiseError {
  constructor(message: string) {
    super("NOT_FOUND", 404, message);
  }
}

/** The object exists but is in a state that does not allow the request (name taken, not empty, online…). */
export class ConflictError extends PorpoiseError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super("CONFLICT", 409, message, { details });
  }
}

/** A run request's Idempotency-Key names an instance created already (store: unique per project). */
export class RequestKeyUsedError extends ConflictError {
  constructor(readonly requestKey: string) {
    super(`a run with Idempotency-Key ${JSON.stringify(requestKey)} exists already in this project`, [{ path: "Idempotency-Key", message: "already used" }]);
  }
}

export class PayloadTooLargeError extends PorpoiseError {
  constructor(limitBytes: number) {
    super("PAYLOAD_TOO_LARGE", 413, `request body is larger than ${limitBytes} bytes`);
  }
}

/** The store (or another dependency) failed; the message says which and the cause carries the driver error. */
export class StoreError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("STORE_ERROR", 500, message, { cause });
  }
}
