// The statements of a batch of schedule fires (schedules.ts fireBatch), as SQL text with a few
// parameters instead of drizzle's builders. Why: drizzle spends 16-25 ms building ONE 167-row
// INSERT (a Param chunk and a driver mapping per value; measured with toSQL() on the 2 shared
// cores), more than the whole 10 ms a fire may take. Here the rows travel as ONE JSON parameter
// (json_each / jsonb_to_recordset), ids as integer literals (checked safe integers, never user
// text), and the rows coming back are decoded by the tables' own columns, exactly as drizzle
// decodes them. Dialect-aware like task-attempt-updates.ts: FOR UPDATE, JSON functions and
// timestamp parameters differ.

import { type AnyColumn, getTableColumns, type SQL, sql, type Table } from "drizzle-orm";
import type { ExecutionType } from "../core/workflow-schema.ts";
import type { Db, Tables } from "./dialect.ts";
import type { Dialect } from "./store.ts";

export type ScheduleRow = Tables["schedules"]["$inferSelect"];
export type WorkflowRow = Tables["workflowDefinitions"]["$inferSelect"];
export type InstanceRow = Tables["workflowInstances"]["$inferSelect"];

/** Ids written into SQL text: only safe integers get there. */
function idList(ids: readonly number[]): string {
  for (const id of ids) if (!Number.isSafeInteger(id)) throw new Error(`schedule fire: id ${String(id)} is not an integer`);
  return ids.join(", ");
}

function time(dialect: Dialect, d: Date): SQL {
  return dialect === "postgres" ? sql`${d.toISOString()}::timestamptz` : sql`${d.getTime()}`;
}

async function rawRows(tx: Db, dialect: Dialect, query: SQL): Promise<Record<string, unknown>[]> {
  // drizzle's SQLite database has all() where the Postgres one has execute().
  const result: unknown = dialect === "postgres" ? await tx.execute(query) : await (tx as unknown as { all(q: SQL): Promise<unknown> }).all(query);
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  const rows = (result as { rows?: unknown }).rows;
  return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
}

/** Raw rows (keyed by column name) to the table's typed rows: each column decodes its own value, as in drizzle's own selects. */
function decode<T extends Table>(table: T, rows: readonly Record<string, unknown>[]): T["$inferSelect"][] {
  const columns = Object.entries(getTableColumns(table)) as [string, AnyColumn][];
  return rows.map((raw) => {
    const out: Record<string, unknown> = {};
    for (const [key, column] of columns) {
      const v = raw[column.name];
      out[key] = v === null || v === undefined ? null : column.mapFromDriverValue(v);
    }
    return out as T["$inferSelect"];
  });
}

/**
 * Locks and reads the schedules, ascending id. Postgres: FOR UPDATE in id order, so two batches
 * over overlapping schedules cannot deadlock, and they wait for (and are waited on by) the row
 * locks of setReleaseState, update and delete. SQLite: the write transaction (BEGIN IMMEDIATE)
 * is exclusive already.
 */
export async function lockSchedules(tx: Db, dialect: Dialect, t: Tables, ids: readonly number[]): Promise<ScheduleRow[]> {
  if (ids.length === 0) return [];
  const query = sql.raw(`SELECT * FROM schedules WHERE id IN (${idList(ids)}) ORDER BY id${dialect === "postgres" ? " FOR UPDATE" : ""}`);
  return decode(t.schedules, await rawRows(tx, dialect, query));
}

/**
 * Locks and reads the workflows (same order and reason as lockSchedules; Postgres's FOR UPDATE
 * conflicts with the no-op UPDATE lock that instances.ts and serial-instances.ts take), with the
 * execution type of each one's current version read in the same statement.
 */
export async function lockWorkflows(tx: Db, dialect: Dialect, t: Tables, ids: readonly number[]): Promise<{ row: WorkflowRow; executionType: ExecutionType }[]> {
  if (ids.length === 0) return [];
  const pg = dialect === "postgres";
  const type = pg ? "v.definition->>'executionType'" : "json_extract(v.definition, '$.executionType')";
  const query = sql.raw(
    `SELECT w.*, ${type} AS porpoise_execution_type FROM workflow_definitions w
     LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.current_version
     WHERE w.id IN (${idList(ids)}) ORDER BY w.id${pg ? " FOR UPDATE OF w" : ""}`,
  );
  const raw = await rawRows(tx, dialect, query);
  const rows = decode(t.workflowDefinitions, raw);
  return rows.map((row, i) => ({ row, executionType: ((raw[i]!.porpoise_execution_type as ExecutionType | null) ?? "PARALLEL") }));
}

export interface FireRow {
  schedule: ScheduleRow;
  workflow: WorkflowRow;
  fireTime: Date;
}

/**
 * ONE INSERT … ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING * for the fires of
 * PARALLEL workflows: state SUBMITTED_SUCCESS, runType SCHEDULER, slot 0 until setSlots. The
 * rows returned are the fires created here; the others exist already. Callers keep a statement
 * under 500 rows (the JSON parameter grows, the statement does not).
 */
export async function insertFires(tx: Db, dialect: Dialect, t: Tables, fires: readonly FireRow[], now: Date): Promise<InstanceRow[]> {
  if (fires.length === 0) return [];
  const pg = dialect === "postgres";
  const columns = "project_id, workflow_id, workflow_version, state, run_type, slot, epoch, priority, worker_group, failure_strategy, params, dry_run, schedule_id, schedule_time, created_at, updated_at";
  let query: SQL;
  if (pg) {
    const rows = fires.map(({ schedule: s, workflow: w, fireTime }) => ({
      project_id: w.projectId,
      workflow_id: w.id,
      workflow_version: w.currentVersion,
      priority: s.priority,
      worker_group: s.workerGroup,
      failure_strategy: s.failureStrategy,
      params: s.params,
      schedule_id: s.id,
      schedule_time: fireTime.toISOString(),
    }));
    query = sql`INSERT INTO workflow_instances (${sql.raw(columns)})
      SELECT f.project_id, f.workflow_id, f.workflow_version, 'SUBMITTED_SUCCESS', 'SCHEDULER', 0, 0, f.priority, f.worker_group,
        f.failure_strategy, f.params, false, f.schedule_id, f.schedule_time, ${time(dialect, now)}, ${time(dialect, now)}
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS f(project_id bigint, workflow_id bigint, workflow_version integer,
        priority text, worker_group text, failure_strategy text, params jsonb, schedule_id bigint, schedule_time timestamptz)
      ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING *`;
  } else {
    const rows = fires.map(({ schedule: s, workflow: w, fireTime }) => [w.projectId, w.id, w.currentVersion, s.priority, s.workerGroup, s.failureStrategy, s.params, s.id, fireTime.getTime()]);
    const at = (i: number) => `json_extract(f.value, '$[${i}]')`;
    // `WHERE true`: without it SQLite reads ON CONFLICT as a join constraint of the SELECT.
    query = sql`INSERT INTO workflow_instances (${sql.raw(columns)})
      SELECT ${sql.raw(`${at(0)}, ${at(1)}, ${at(2)}, 'SUBMITTED_SUCCESS', 'SCHEDULER', 0, 0, ${at(3)}, ${at(4)}, ${at(5)}, ${at(6)}, 0, ${at(7)}, ${at(8)}`)},
        ${time(dialect, now)}, ${time(dialect, now)}
      FROM json_each(${JSON.stringify(rows)}) AS f WHERE true
      ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING *`;
  }
  return decode(t.workflowInstances, await rawRows(tx, dialect, query));
}

/** Stores each instance's slot (computed from its id after the insert): one UPDATE. */
export async function setSlots(tx: Db, dialect: Dialect, slots: readonly { id: number; slot: number }[]): Promise<void> {
  if (slots.length === 0) return;
  const cases = slots.map(({ id, slot }) => `WHEN ${idList([id])} THEN ${idList([slot])}`).join(" ");
  await rawRows(tx, dialect, sql.raw(`UPDATE workflow_instances SET slot = CASE id ${cases} END WHERE id IN (${idList(slots.map((s) => s.id))})`));
}

/** Moves the cursor of the schedules forward to `to` (never back): one UPDATE. */
export async function advanceCursors(tx: Db, dialect: Dialect, ids: readonly number[], to: Date): Promise<void> {
  if (ids.length === 0) return;
  await rawRows(
    tx,
    dialect,
    sql`UPDATE schedules SET last_fire_time = ${time(dialect, to)}
      WHERE id IN (${sql.raw(idList(ids))}) AND (last_fire_time IS NULL OR last_fire_time < ${time(dialect, to)})`,
  );
}
