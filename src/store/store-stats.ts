// What the store's callers see of it, for metrics: statements (read, write, exclusive units of
// the Runner) in flight now, and the errors they ended with, by kind. Counted around the Runner,
// so every repository is covered without touching one; a domain refusal mapped from a constraint
// (ConflictError: "name taken") is an answer, not a store error, and is not counted.

import { StoreError } from "../core/errors.ts";
import { isStoreOutage } from "./outage.ts";
import { isTransientStoreError } from "./retry.ts";
import type { Runner } from "./dialect.ts";

export const STORE_ERROR_KINDS = ["unreachable", "retryable", "failed"] as const;
export type StoreErrorKind = (typeof STORE_ERROR_KINDS)[number];

export interface StoreStats {
  /** Units of work running on the store now (SQLite: at most one runs, the rest wait for the connection). */
  inFlight: number;
  /** Connections the store may open: SQLite 1, Postgres the pool's max. */
  poolSize: number;
  /** Postgres: times the pool was replaced after a lost connection (pg-pool.ts); SQLite 0. */
  poolRenewals: number;
  /** Errors by kind: unreachable (an outage), retryable (serialization failure, deadlock), failed (anything else). */
  errors: Record<StoreErrorKind, number>;
}

export function countingRunner(run: Runner, pool: { size: number; renewals: () => number }): { runner: Runner; stats: () => StoreStats } {
  let inFlight = 0;
  const errors: Record<StoreErrorKind, number> = { unreachable: 0, retryable: 0, failed: 0 };
  const counted = async <T>(fn: () => Promise<T>): Promise<T> => {
    inFlight++;
    try {
      return await fn();
    } catch (err) {
      if (isStoreOutage(err)) errors.unreachable++;
      else if (isTransientStoreError(err)) errors.retryable++;
      else if (err instanceof StoreError) errors.failed++;
      throw err;
    } finally {
      inFlight--;
    }
  };
  const runner: Runner = {
    dialect: run.dialect,
    t: run.t,
    raw: run.raw,
    fence: run.fence,
    read: (fn) => counted(() => run.read(fn)),
    write: (fn, onViolation) => counted(() => run.write(fn, onViolation)),
    writePipelined: (fn) => counted(() => run.writePipelined(fn)),
    exclusive: (fn) => counted(() => run.exclusive(fn)),
  };
  return { runner, stats: () => ({ inFlight, poolSize: pool.size, poolRenewals: pool.renewals(), errors: { ...errors } }) };
}
