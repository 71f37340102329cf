// The Postgres Coordinator's own small pool (docs/architecture.md §3.3). Renewals must not wait
// behind the engine's group commits in the Store's pool (max 10), and a lease statement that
// waits on a lock for longer than a lease is pointless: statement_timeout ends it, the tick
// fails, and the local deadline reports the slots lost in time.
//
// fetch_types is off: postgres.js runs its array-type query as the first statement of every new
// connection and drops that promise, so a connection terminated during it (a Postgres restart,
// pg_terminate_backend) surfaces as an unhandled rejection that kills the process
// (porsager/postgres#1192, #1223; reproduced by coordinator-failover.test.ts). The lease
// statements pass arrays as text literals cast in SQL and need no array types.

import { redactUrl } from "../core/redact-url.ts";
import { StoreError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import type { PgPool } from "../store/pg-pool.ts";

/**
 * Opens (and checks) a 2-connection pool for PostgresCoordinator, replaced by a fresh one after it
 * lost a connection (store/pg-pool.ts: a Postgres restart can spoil a postgres.js connection for
 * good); the caller ends it after stop(). Its connections are named `porpoise-coordinator:<nodeId>`
 * in pg_stat_activity.
 */
export async function openLeaseClient(url: string, opts: { leaseMs: number; nodeId?: string; log?: Logger }): Promise<PgPool> {
  const log = opts.log ?? silentLogger;
  // Loaded here: a SQLite process never needs the driver.
  const { openPgPool } = await import("../store/pg-pool.ts");
  const pool = openPgPool({
    url,
    log,
    options: {
      max: 2,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(opts.leaseMs / 1000)),
      connection: { statement_timeout: opts.leaseMs, application_name: `porpoise-coordinator${opts.nodeId ? `:${opts.nodeId}` : ""}`.slice(0, 63) },
      onnotice: (notice) => log.debug("postgres notice", { message: notice.message }),
    },
  });
  try {
    await pool.sql`SELECT 1`;
  } catch (err) {
    await pool.end({ timeout: 1 }).catch(() => {});
    throw new StoreError(`cannot reach Postgres at ${redactUrl(url)} for slot leases: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return pool;
}
