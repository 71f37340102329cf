// Store calls of the engine that must not give up while the store is away (docs/architecture.md §3.10: a
// store outage is retried until it ends). An error is retried when it says the store could not
// be reached or the transaction lost a race — connection refused / closed / reset, Postgres
// shutting down or starting up (57P0x), 08xxx, too many connections, a serialization failure or
// deadlock, SQLite busy or I/O; anything else (a constraint violation, a bug) is thrown at once.
//
// Backoff doubles from 50 ms to a cap of 2 s: after Postgres is back, each waiting caller finds
// out within the cap (R8: reconnect ≤ 10 s after PostgreSQL is back). The first failure of an
// outage is logged as a warning, the end as info with its length; the steps in between only at
// debug, so a long outage does not flood the log.

import type { Logger } from "../core/log.ts";
import { isStoreOutage } from "./outage.ts";

/** SQLSTATE 40001 serialization failure, 40P01 deadlock: the transaction may simply run again. */
const RETRYABLE_TX = new Set(["40001", "40P01"]);

export function isTransientStoreError(err: unknown): boolean {
  if (isStoreOutage(err)) return true;
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && RETRYABLE_TX.has(code)) return true;
  }
  return false;
}

export const RETRY_BASE_MS = 50;
export const RETRY_CAP_MS = 2000;

/** The retry was given up because `signal` aborted (shutdown, kill): nothing more to do. */
export class RetryAborted extends Error {
  constructor(what: string, cause: unknown) {
    super(`${what}: given up (shutting down) while the store was unreachable`, { cause });
  }
}

export interface StoreRetryOptions {
  log: Logger;
  /** Aborting ends the waiting with RetryAborted. */
  signal?: AbortSignal;
  /** Called (once per outage) after a call succeeded that had failed before. */
  onRecovered?: () => void;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds or fails with an error that is not transient. `fn` is called again
 * from scratch: it must be safe to repeat (a read, or a write that names its expected old state).
 */
export async function retryStore<T>(what: string, fn: (attempt: number) => Promise<T>, opts: StoreRetryOptions): Promise<T> {
  let since = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await fn(attempt);
      if (attempt > 0) {
        opts.log.info(`store reachable again: ${what} succeeded after ${attempt} retries (${Date.now() - since} ms)`);
        opts.onRecovered?.();
      }
      return result;
    } catch (err) {
      if (!isTransientStoreError(err)) throw err;
      if (opts.signal?.aborted) throw new RetryAborted(what, err);
      if (attempt === 0) {
        since = Date.now();
        opts.log.warn(`store unreachable: ${what} failed; retrying until it answers`, { err: err instanceof Error ? err.message : String(err) });
      } else opts.log.debug(`store still unreachable: ${what} (retry ${attempt})`);
      await sleep(Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 10)), opts.signal);
      if (opts.signal?.aborted) throw new RetryAborted(what, err);
    }
  }
}
