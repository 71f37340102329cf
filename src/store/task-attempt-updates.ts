// Many fenced attempt updates as ONE statement: a VALUES list joined to task_instances, each
// row carrying its own guard (id, attempt, token, expected states) and its own changes.
// Measured (scripts/bench/store-batch.ts, 1,000 completions + 1,000 inserts per batch, 2 shared
// cores): one drizzle UPDATE per op gave ~108 µs/op on bun:sqlite and ~266 µs/op on Postgres
// (query building + a round trip each; issuing them concurrently for pipelining did not help);
// this statement brought it to ~45 and ~107 µs/op. It is the only dialect-aware SQL of the repositories:
// casts for Postgres, json_each vs jsonb_array_elements_text, milliseconds vs timestamps.

import { type SQL, sql } from "drizzle-orm";
import type { Db } from "./dialect.ts";
import type { Dialect, TaskAttemptChanges, TaskAttemptUpdate } from "./store.ts";

/** The settable columns, in mask-bit order. */
const FIELDS = [
  ["host", "host", "text"],
  ["startTime", "start_time", "time"],
  ["endTime", "end_time", "time"],
  ["output", "output", "json"],
  ["exitCode", "exit_code", "int"],
  ["logPath", "log_path", "text"],
  ["message", "message", "text"],
  ["notBefore", "not_before", "time"],
  ["dispatchToken", "dispatch_token", "text"],
] as const satisfies readonly (readonly [keyof TaskAttemptChanges, string, string])[];

/** Rows per statement: 17 parameters each stays under SQLite's 32,766 and Postgres's 65,535. */
export const BULK_UPDATE_CHUNK = 1000;

function value(dialect: Dialect, kind: string, v: unknown): SQL {
  const pg = dialect === "postgres";
  if (kind === "time") {
    const d = v as Date | null | undefined;
    return pg ? sql`${d ? d.toISOString() : null}::timestamptz` : sql`${d ? d.getTime() : null}`;
  }
  if (kind === "json") return pg ? sql`${v == null ? null : JSON.stringify(v)}::jsonb` : sql`${v == null ? null : JSON.stringify(v)}`;
  if (kind === "int") return pg ? sql`${v ?? null}::integer` : sql`${v ?? null}`;
  return pg ? sql`${v ?? null}::text` : sql`${v ?? null}`;
}

/**
 * Applies the updates (distinct ids) in one statement per chunk; returns the ids that matched.
 * Every op must have a non-empty `from`.
 */
export async function bulkUpdateAttempts(tx: Db, dialect: Dialect, ops: readonly TaskAttemptUpdate[], now: Date): Promise<Set<number>> {
  const pg = dialect === "postgres";
  const applied = new Set<number>();
  const cols = ["id", "attempt", "token", "from_states", "to_state", "mask", "epoch", "fence_instance", ...FIELDS.map(([, c]) => c)];
  for (let start = 0; start < ops.length; start += BULK_UPDATE_CHUNK) {
    const chunk = ops.slice(start, start + BULK_UPDATE_CHUNK);
    const rows = chunk.map((op) => {
      const set = op.set ?? {};
      let mask = 0;
      FIELDS.forEach(([key], bit) => {
        if (set[key] !== undefined) mask |= 1 << bit;
      });
      const values: SQL[] = [
        pg ? sql`${op.id}::bigint` : sql`${op.id}`,
        value(dialect, "int", op.attempt),
        value(dialect, "text", op.token),
        pg ? sql`${JSON.stringify(op.from)}::jsonb` : sql`${JSON.stringify(op.from)}`,
        value(dialect, "text", op.to),
        value(dialect, "int", mask),
        value(dialect, "int", op.fence?.epoch ?? null),
        pg ? sql`${op.fence?.workflowInstanceId ?? null}::bigint` : sql`${op.fence?.workflowInstanceId ?? null}`,
        ...FIELDS.map(([key, , kind]) => value(dialect, kind, set[key])),
      ];
      return sql`(${sql.join(values, sql`, `)})`;
    });
    const assignments = FIELDS.map(
      ([, column], bit) => sql.raw(`${column} = CASE WHEN (v.mask & ${1 << bit}) <> 0 THEN v.${column} ELSE t.${column} END`),
    );
    const states = pg ? sql.raw("SELECT jsonb_array_elements_text(v.from_states)") : sql.raw("SELECT value FROM json_each(v.from_states)");
    const query = sql`WITH v(${sql.raw(cols.join(", "))}) AS (VALUES ${sql.join(rows, sql`, `)})
      UPDATE task_instances AS t SET state = v.to_state, epoch = COALESCE(v.epoch, t.epoch),
        ${sql.join(assignments, sql`, `)}, updated_at = ${value(dialect, "time", now)}
      FROM v
      WHERE t.id = v.id AND t.attempt = v.attempt AND t.dispatch_token IS NOT DISTINCT FROM v.token AND t.state IN (${states})
        AND (v.fence_instance IS NULL OR t.workflow_instance_id = v.fence_instance)
      RETURNING ${sql.raw(pg ? "t.id" : "id")}`; // SQLite's RETURNING sees only the target table, unaliased
    // drizzle's SQLite database has all() where the Postgres one has execute().
    const result = pg ? await tx.execute(query) : await (tx as unknown as { all(q: SQL): Promise<unknown> }).all(query);
    for (const row of rowsOf(result)) applied.add(Number(row.id));
  }
  return applied;
}

function rowsOf(result: unknown): { id: unknown }[] {
  if (Array.isArray(result)) return result as { id: unknown }[];
  const rows = (result as { rows?: unknown }).rows;
  return Array.isArray(rows) ? (rows as { id: unknown }[]) : [];
}
