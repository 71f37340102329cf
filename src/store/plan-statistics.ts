// Statistics for the plans of the hot statements (docs/architecture.md §3.7, "Plans").
//
// The master's group commits run prepared statements with generic plans (open.ts: the writer's
// connection has plan_cache_mode force_generic_plan), and Postgres keeps a generic plan until the
// tables it reads are analyzed again. On a new database the first plans are made while
// workflow_instances and task_instances hold a handful of rows, and for a table that small any
// access path looks free: the lease guard of the attempt updates walked workflow_instances by
// slot (an index scan per slot lease) instead of by id, and took 21 ms per statement once the
// table held 20,000 instances, against 0.09 ms with the plan made after an ANALYZE (EXPLAIN
// ANALYZE of the prepared statement, 2-core machine). Autovacuum analyzes a table at most once
// a minute and after 10 % of its rows changed, so a new cluster ran on the small-table plans for
// its first minute or more, and every benchmark on a fresh database measured them.
//
// refresh(): the hot tables whose live rows outgrew their statistics (at least MIN_ROWS, and more
// than GROWTH times the rows the last ANALYZE counted, or never analyzed) are analyzed now. That
// happens a few times while a table grows from nothing (200, 400, 800 … rows) and then no longer:
// autovacuum keeps up with a big table. An ANALYZE samples at most 30,000 rows; several masters
// checking at once go through an advisory lock per table: one analyzes it, the others skip it.

import type { Sql } from "postgres";

/** The tables the hot statements read (attempt-sql.ts, instance-create-sql.ts, schedule-fire-sql.ts, commands). */
export const HOT_TABLES = ["workflow_instances", "task_instances", "schedules", "commands"] as const;
/** Below this many rows every plan is cheap; no ANALYZE. */
export const MIN_ROWS = 200;
/** Live rows above this many times the last ANALYZE's count make the statistics stale. */
export const GROWTH = 2;
/** The high half of the advisory lock key of a table's ANALYZE; the low half is its oid. */
const LOCK_KEY = 0x706f7270; // "porp"

interface TableFigures {
  name: string;
  oid: number;
  /** Rows the last ANALYZE or VACUUM counted; -1 when never. */
  reltuples: number;
  /** Live rows as the statistics collector counts them now. */
  live: number;
}

export function staleStatistics(t: Pick<TableFigures, "reltuples" | "live">): boolean {
  return t.live >= MIN_ROWS && (t.reltuples < 0 || t.live > GROWTH * t.reltuples);
}

/** Analyzes the hot tables whose statistics are stale; the names of those it analyzed. */
export async function refreshPlanStatistics(sql: Sql): Promise<string[]> {
  const rows = (await sql.unsafe(
    `SELECT c.relname AS name, c.oid::int8 AS oid, c.reltuples::float8 AS reltuples, s.n_live_tup::float8 AS live
       FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.oid = ANY(ARRAY[${HOT_TABLES.map((t) => `to_regclass('${t}')`).join(", ")}]::oid[])`,
  )) as unknown as { name: string; oid: string | number; reltuples: number; live: number }[];
  const analyzed: string[] = [];
  for (const row of rows) {
    const t: TableFigures = { name: row.name, oid: Number(row.oid), reltuples: Number(row.reltuples), live: Number(row.live) };
    if (!staleStatistics(t) || !HOT_TABLES.includes(t.name as (typeof HOT_TABLES)[number])) continue;
    const done = await sql.begin(async (tx) => {
      const [lock] = (await tx.unsafe("SELECT pg_try_advisory_xact_lock(($1::int8 << 32) | $2::int8) AS got", [LOCK_KEY, t.oid])) as unknown as { got: boolean }[];
      if (!lock?.got) return false; // another node analyzes it now
      await tx.unsafe(`ANALYZE ${t.name}`);
      return true;
    });
    if (done) analyzed.push(t.name);
  }
  return analyzed;
}
