// A postgres.js pool that is replaced by a fresh one after it lost a connection
// (docs/architecture.md §3.10, store outages).
//
// Why: in postgres.js 3.4.9 a connection whose socket closes while a small write still waits for
// its setImmediate flush (connection.js `closed()` / `terminate()`) cancels that immediate but
// keeps the handle, and only a flush resets it. From then on that connection object never
// schedules a flush again: every reconnect writes its startup message into a buffer nobody sends
// and ends in CONNECT_TIMEOUT (connect_timeout later), until the buffer passes 1 KiB and goes out
// as garbage — and the pool reuses its connection objects forever. After a Postgres restart under
// load (outage-postgres.test.ts) masters' and workers' pools kept failing for tens of seconds
// while the server answered everybody else; a statement sent on such a connection in a
// transaction threw "null is not an object (evaluating 'socket.write')". Measured with 30
// callers running short transactions through a kill -9 and restart (as in test/faults/pg-pool-restart.test.ts):
// a default pool answered nothing for ~10 s after the server was back (the backoff, below); with
// a short backoff alone throughput came back at once but 2 transactions hung on spoiled
// connections until CONNECT_TIMEOUT 10 s later; replaced pools: no stall, no error. Which connection
// object is spoiled cannot be seen from outside, so after any connection of the current pool
// closes, the next statements go to a new pool and the old one is destroyed at once: its
// statements in flight and queued fail as an outage (CONNECTION_DESTROYED), which their callers
// retry (store/retry.ts), and none is left waiting on a spoiled connection. Ending it gently
// instead would leak: a postgres.js pool that is ending still reopens connections for the
// statements queued in it (its `onclose`), and leaves them open, idle, once they are served.
//
// So that only trouble replaces a pool, its connections have no max lifetime (postgres.js would
// close each after 30-60 minutes, and every close looks alike from here). During an outage every
// refused connect closes a connection too: pools are replaced at most once per RENEW_GAP_MS. The
// reconnect backoff is kept short (postgres.js grows it to 10-20 s after a handful of refused
// connects, shared by the pool), so a statement finds the server within a moment of its return.

import postgres, { type Sql } from "postgres";
import { type Logger, silentLogger } from "../core/log.ts";

/** At most one new pool per this long (a refused connect during an outage closes one every few ms). */
const RENEW_GAP_MS = 1000;
/** Reconnect delay in seconds after `retries` failed connects in a row: 50 ms steps up to 0.5 s. */
const backoff = (retries: number) => Math.min(0.05 * retries, 0.5);

export interface PgPool {
  /** The pool to send the next statement to (a new one after a connection of the last was lost). */
  readonly sql: Sql;
  /** How many times the pool was replaced (tests, diagnostics). */
  readonly renewals: number;
  /**
   * How many connections of any of its pools have closed so far. postgres.js reconnects a closed
   * connection for the next statement without a word, so a transaction that sees this change
   * while it runs knows its later statements would land, outside it, on a new session
   * (pg-transaction.ts).
   */
  readonly closes: number;
  /** Ends the current pool (postgres.js `end`) and waits for the replaced ones to be gone. */
  end(opts?: { timeout?: number }): Promise<void>;
}

export interface PgPoolOptions {
  url: string;
  /** postgres.js options of every pool; `onclose`, `backoff` and `max_lifetime` are this module's. */
  options: Omit<postgres.Options<{}>, "onclose" | "backoff" | "max_lifetime">;
  log?: Logger;
}

type State = "open" | "ended";

export function openPgPool(o: PgPoolOptions): PgPool {
  const log = o.log ?? silentLogger;
  let state: State = "open";
  let generation = 0;
  let renewals = 0;
  let closes = 0;
  let renewedAt = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const retiring = new Set<Promise<void>>();

  const create = (): Sql => {
    const mine = ++generation;
    return postgres(o.url, { ...o.options, backoff, max_lifetime: null, onclose: () => lost(mine) });
  };
  let current = create();

  function lost(of: number): void {
    closes++;
    if (state !== "open" || of !== generation || timer) return;
    const wait = renewedAt + RENEW_GAP_MS - performance.now();
    if (wait <= 0) renew();
    else {
      timer = setTimeout(renew, wait);
      timer.unref?.();
    }
  }

  function renew(): void {
    timer = undefined;
    if (state !== "open") return;
    const old = current;
    current = create();
    renewals++;
    renewedAt = performance.now();
    log.debug("postgres: a connection was lost; new statements go to a fresh pool", { renewals });
    const retired: Promise<void> = old
      .end({ timeout: 0 })
      .catch((err) => log.debug("postgres: ending a replaced pool failed", { err }))
      .finally(() => retiring.delete(retired));
    retiring.add(retired);
  }

  return {
    get sql() {
      return current;
    },
    get renewals() {
      return renewals;
    },
    get closes() {
      return closes;
    },
    async end(opts) {
      if (state === "ended") return;
      state = "ended";
      clearTimeout(timer);
      await Promise.all([current.end(opts), ...retiring]);
    },
  };
}
