// Postgres transactions of one database over a stretch of work (issue 10: "≤ 1 Postgres
// transaction per task amortised, from pg_stat_database"): the xact_commit + xact_rollback
// delta of the database. Not a scenario (exports no `run`).
//
// Postgres 15 keeps a backend's counts in the backend and flushes them at most once a second
// while busy, and within 10 s (PGSTAT_IDLE_INTERVAL) once idle; pg_stat_force_next_flush()
// only reaches the calling backend. So each reading waits for the other backends to flush:
// SETTLE_MS of quiet before the first and after the work. The window therefore also holds the
// nodes' background (heartbeats, lease renewals, sweeps: a few per second) and the bench's own
// API calls (triggers, and the polls that wait for the end): the figure is an upper bound.

import postgres from "postgres";

/** Longer than PGSTAT_IDLE_INTERVAL (10 s), so every idle backend has flushed. */
export const SETTLE_MS = 11_000;

export async function transactionCount(dbUrl: string): Promise<number> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`SELECT pg_stat_force_next_flush()`;
    const [row] = await sql<{ n: string }[]>`
      SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()`;
    if (!row) throw new Error(`pg_stat_database has no row for the database of ${dbUrl}`);
    return Number(row.n);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Runs `work` between two readings (each after `settleMs` of waiting) and returns its result with
 * the number of transactions the database committed or rolled back meanwhile.
 */
export async function countTransactions<T>(dbUrl: string, work: () => Promise<T>, settleMs = SETTLE_MS): Promise<{ result: T; transactions: number }> {
  await Bun.sleep(settleMs);
  const before = await transactionCount(dbUrl);
  const result = await work();
  await Bun.sleep(settleMs);
  const after = await transactionCount(dbUrl);
  return { result, transactions: after - before };
}
