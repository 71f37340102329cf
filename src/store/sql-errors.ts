// Driver errors in one place: constraint violations are recognised the same way on both
// dialects, everything else becomes a StoreError carrying the failed query (never its
// parameters — they can hold password and token hashes).

import { DrizzleQueryError } from "drizzle-orm/errors";
import { PorpoiseError, StoreError } from "../core/errors.ts";

export type ViolationKind = "unique" | "foreign_key" | "check" | "not_null";

export interface Violation {
  kind: ViolationKind;
  /** Constraint name (Postgres) or the driver's description, e.g. `UNIQUE constraint failed: users.name` (SQLite). */
  constraint: string;
}

const pgCodes: Record<string, ViolationKind> = { "23505": "unique", "23503": "foreign_key", "23514": "check", "23502": "not_null" };
const sqliteCodes: Record<string, ViolationKind> = {
  SQLITE_CONSTRAINT_UNIQUE: "unique",
  SQLITE_CONSTRAINT_PRIMARYKEY: "unique",
  SQLITE_CONSTRAINT_FOREIGNKEY: "foreign_key",
  SQLITE_CONSTRAINT_CHECK: "check",
  SQLITE_CONSTRAINT_NOTNULL: "not_null",
};

function driverError(err: unknown): unknown {
  return err instanceof DrizzleQueryError && err.cause ? err.cause : err;
}

export function violationOf(err: unknown): Violation | null {
  const cause = driverError(err) as { code?: unknown; constraint_name?: unknown; message?: unknown } | null;
  if (!cause || typeof cause.code !== "string") return null;
  const kind = pgCodes[cause.code] ?? sqliteCodes[cause.code];
  if (!kind) return null;
  const constraint = typeof cause.constraint_name === "string" ? cause.constraint_name : String(cause.message ?? "");
  return { kind, constraint };
}

/**
 * Our own errors pass through; driver errors become a StoreError naming the query that failed
 * (`lastQuery` when the driver did not say). The cause is the driver's error, not drizzle's
 * wrapper, whose message lists the parameters.
 */
export function toStoreError(err: unknown, lastQuery?: string): PorpoiseError {
  if (err instanceof PorpoiseError) return err;
  const cause = driverError(err);
  const reason = cause instanceof Error ? cause.message : String(cause);
  const query = err instanceof DrizzleQueryError ? err.query : lastQuery;
  return new StoreError(`store query failed: ${reason}${query ? ` (query: ${query})` : ""}`, cause);
}
