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

import type { Sql } from "postgres";
import { redactUrl } from "../core/redact-url.ts";
import { StoreError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";

/**
 * Opens (and checks) a 2-connection client for PostgresCoordinator; the caller ends it after
 * stop(). Its connections are named `porpoise-coordinator:<nodeId>` in pg_stat_activity.
 */
export async function openLeaseClient(url: string, opts: { leaseMs: number; nodeId?: string; log?: Logger }): Promise<Sql> {
  const log = opts.log ?? silentLogger;
  const { default: postgres } = await import("postgres");
  const sql = postgres(url, {
    max: 2,
    fetch_types: false,
    connect_timeout: Math.max(1, Math.ceil(opts.leaseMs / 1000)),
    connection: { statement_timeout: opts.leaseMs, application_name: `porpoise-coordinator${opts.nodeId ? `:${opts.nodeId}` : ""}`.slice(0, 63) },
    onnotice: (notice) => log.debug("postgres notice", { message: notice.message }),
  });
  try {
    await sql`SELECT 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new StoreError(`cannot reach Postgres at ${redactUrl(url)} for slot leases: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return sql;
}
