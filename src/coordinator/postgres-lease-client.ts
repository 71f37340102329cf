// The Postgres Coordinator's own small pool (docs/architecture.md §3.3). Renewals must not wait
// behind the engine's group commits in the Store's pool (max 10), and a lease statement that
// waits on a lock for longer than a lease is pointless: statement_timeout ends it, the tick
// fails, and the local deadline reports the slots lost in time.

import type { Sql } from "postgres";
import { redactUrl } from "../core/redact-url.ts";
import { StoreError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";

/** Opens (and checks) a 2-connection client for PostgresCoordinator; the caller ends it after stop(). */
export async function openLeaseClient(url: string, opts: { leaseMs: number; log?: Logger }): Promise<Sql> {
  const log = opts.log ?? silentLogger;
  const { default: postgres } = await import("postgres");
  const sql = postgres(url, {
    max: 2,
    connect_timeout: Math.max(1, Math.ceil(opts.leaseMs / 1000)),
    connection: { statement_timeout: opts.leaseMs, application_name: "porpoise-coordinator" },
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
