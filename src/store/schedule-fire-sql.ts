// The statements of a batch of schedule fires (schedules.ts fireBatch), as SQL text with a few
// parameters instead of drizzle's builders. Why: drizzle spends 16-25 ms building ONE 167-row
// INSERT (a Param chunk and a driver mapping per value; measured with toSQL() on the 2 shared
// cores), more than the whole 10 ms a fire may take. Here rows and id lists travel as ONE
// parameter each (json_each / jsonb_to_recordset / a bigint[]), so every statement's text is
// constant (Postgres prepares it once per connection), and the rows coming back are decoded by
// the tables' own columns, exactly as drizzle decodes them. Dialect-aware like
// task-attempt-updates.ts: FOR UPDATE, JSON functions, id allocation and timestamp parameters differ.

import { type AnyColumn, getTableColumns, type SQL, sql, type Table } from "drizzle-orm";
import type { ExecutionType } from "../core/workflow-schema.ts";
import type { Db, Tables } from "./dialect.ts";
import { leaseHeld } from "./lease-fence.ts";
import type { Dialect } from "./store.ts";

export type ScheduleRow = Tables["schedules"]["$inferSelect"];
export type WorkflowRow = Tables["workflowDefinitions"]["$inferSelect"];
export type InstanceRow = Tables["workflowInstances"]["$inferSelect"];

/**
 * Above this many ids Postgres gets them as a set to join, not an array to search: `= ANY(array)`
 * descends the primary key once per id (0.4 ms for 167 of 10,000 schedules), but when the planner
 * scans the table instead it searches the array linearly for every row (the array comes from a
 * text parameter, so it is not hashed): the start's cursor move of 10,000 schedules took 6.5-12 s
 * that way, ~0.16 s as a hash join (EXPLAIN ANALYZE).
 */
const PG_ARRAY_MAX = 1000;

/** `column IN ids` with the ids as one parameter. */
function inIds(dialect: Dialect, column: string, ids: readonly number[]): SQL {
  for (const id of ids) if (!Number.isSafeInteger(id)) throw new Error(`schedule fire: id ${String(id)} is not an integer`);
  if (dialect !== "postgres") return sql`${sql.raw(column)} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;
  const array = `{${ids.join(",")}}`;
  return ids.length <= PG_ARRAY_MAX ? sql`${sql.raw(column)} = ANY(${array}::text::bigint[])` : sql`${sql.raw(column)} IN (SELECT unnest(${array}::text::bigint[]))`;
}

function time(dialect: Dialect, d: Date): SQL {
  return dialect === "postgres" ? sql`${d.toISOString()}::timestamptz` : sql`${d.getTime()}`;
}

export async function rawRows(tx: Db, dialect: Dialect, query: SQL): Promise<Record<string, unknown>[]> {
  // drizzle's SQLite database has all() where the Postgres one has execute().
  const result: unknown = dialect === "postgres" ? await tx.execute(query) : await (tx as unknown as { all(q: SQL): Promise<unknown> }).all(query);
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  const rows = (result as { rows?: unknown }).rows;
  return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
}

/** Raw rows (keyed by column name) to the table's typed rows: each column decodes its own value, as in drizzle's own selects. */
export function decode<T extends Table>(table: T, rows: readonly Record<string, unknown>[]): T["$inferSelect"][] {
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
 * Locks and reads the schedules, ascending id. Postgres: FOR NO KEY UPDATE in id order, so two
 * batches over overlapping schedules cannot deadlock, and they wait for (and are waited on by) the
 * row locks of setReleaseState, update and delete. Not FOR UPDATE: that also blocks the FOR KEY
 * SHARE locks of foreign-key checks, and a master's group commit takes those on the schedule and
 * workflow of an instance it updates twice in one transaction (fence, then state: Postgres checks
 * the keys of a row its own transaction changed) — in the other order, so fires of one master and
 * commits of another deadlocked ("deadlock detected" on every master, test/cluster/schedules.test.ts). SQLite: the write transaction (BEGIN IMMEDIATE)
 * is exclusive already.
 */
export async function lockSchedules(tx: Db, dialect: Dialect, t: Tables, ids: readonly number[]): Promise<ScheduleRow[]> {
  if (ids.length === 0) return [];
  const query = sql`SELECT * FROM schedules WHERE ${inIds(dialect, "id", ids)} ORDER BY id${sql.raw(dialect === "postgres" ? " FOR NO KEY UPDATE" : "")}`;
  return decode(t.schedules, await rawRows(tx, dialect, query));
}

export type LockedWorkflow = { row: WorkflowRow; executionType: ExecutionType };

/**
 * Reads the workflows of the given schedules with the execution type of each one's current
 * version, ascending id, run after lockSchedules (pipelined with it: taking the schedule ids, not
 * the workflow ids, lets Postgres run it in the same round trip). Postgres locks them only FOR KEY
 * SHARE — the lock a foreign-key check takes — which keeps a workflow from being deleted (or its
 * key changed) under the fire and conflicts with nothing else. What a stronger lock used to
 * serialise is serialised elsewhere: taking a workflow OFFLINE takes its schedules OFFLINE first
 * (workflows.ts), and those rows are locked by lockSchedules; a version change meanwhile leaves the
 * fire on the version it read, as if it had fired just before. Serial admission does need the
 * workflow to itself: lockSerialWorkflows, for the few batches that fire a serial workflow.
 * Measured (test/cluster/schedules.test.ts shape, 3 masters, 2 shared cores at load ~20): with
 * FOR NO KEY UPDATE here every fire batch queued behind the no-op UPDATE lock that every instance
 * end takes on its workflow (serial-queue.ts released → releaseSerial) and behind the other
 * masters' batches (they lock the same workflows), and a fire of 1-28 schedules took 0.2-7 s:
 * the schedulers fell further behind each second.
 */
export async function lockWorkflowsOf(tx: Db, dialect: Dialect, t: Tables, scheduleIds: readonly number[]): Promise<LockedWorkflow[]> {
  if (scheduleIds.length === 0) return [];
  return selectWorkflows(tx, dialect, t, sql`SELECT workflow_id FROM schedules WHERE ${inIds(dialect, "id", scheduleIds)}`, scheduleIds.length, "FOR KEY SHARE OF w");
}

/**
 * Locks the given workflows (ids of serial ones, read by lockWorkflowsOf) FOR NO KEY UPDATE in id
 * order and reads them again: the lock instances.ts, serial-instances.ts and workflows.ts take
 * (a no-op UPDATE), so admission counts the workflow's active instances while nobody else
 * creates, releases or starts one. Upgrading from FOR KEY SHARE cannot deadlock with another
 * fire doing the same (the two do not conflict, the upgrades queue in id order). SQLite: the
 * write transaction is exclusive already; this only reads them again.
 */
export async function lockSerialWorkflows(tx: Db, dialect: Dialect, t: Tables, workflowIds: readonly number[]): Promise<LockedWorkflow[]> {
  if (workflowIds.length === 0) return [];
  return selectWorkflows(tx, dialect, t, sql`SELECT id FROM workflow_definitions WHERE ${inIds(dialect, "id", workflowIds)}`, workflowIds.length, "FOR NO KEY UPDATE OF w");
}

async function selectWorkflows(tx: Db, dialect: Dialect, t: Tables, ids: SQL, count: number, lock: string): Promise<LockedWorkflow[]> {
  const pg = dialect === "postgres";
  const type = pg ? "v.definition->>'executionType'" : "json_extract(v.definition, '$.executionType')";
  // Postgres, up to PG_ARRAY_MAX: `= ANY(ARRAY(subquery))` makes it look the workflows up by
  // primary key; with IN it hashed a sequential scan of every workflow (EXPLAIN ANALYZE, 2,000
  // workflows). Above it, the set join (see PG_ARRAY_MAX).
  const byKey = pg && count <= PG_ARRAY_MAX;
  const query = sql`SELECT w.*, ${sql.raw(type)} AS porpoise_execution_type FROM workflow_definitions w
     LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.current_version
     WHERE w.id ${sql.raw(byKey ? "= ANY(ARRAY(" : "IN (")}${ids}${sql.raw(byKey ? "))" : ")")}
     ORDER BY w.id${sql.raw(pg ? ` ${lock}` : "")}`;
  const raw = await rawRows(tx, dialect, query);
  const rows = decode(t.workflowDefinitions, raw);
  return rows.map((row, i) => ({ row, executionType: (raw[i]!.porpoise_execution_type as ExecutionType | null) ?? "PARALLEL" }));
}

/**
 * `count` workflow instance ids for rows about to be inserted, so that each row's slot (a hash of
 * its id) goes in with it instead of in an UPDATE after. Postgres: the identity sequence (ids a
 * batch does not use are gaps, as after any rollback). SQLite: the ids after the AUTOINCREMENT
 * high-water mark; the write transaction is exclusive, so nobody takes them meanwhile, and the
 * insert moves the mark past the ids used.
 */
export async function allocateInstanceIds(tx: Db, dialect: Dialect, count: number): Promise<number[]> {
  if (count === 0) return [];
  if (dialect === "postgres") {
    const rows = await rawRows(tx, dialect, sql`SELECT nextval(pg_get_serial_sequence('workflow_instances', 'id')) AS id FROM generate_series(1, ${count}::integer)`);
    return rows.map((r) => Number(r.id));
  }
  const [row] = await rawRows(
    tx,
    dialect,
    sql`SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'workflow_instances'), 0), COALESCE((SELECT max(id) FROM workflow_instances), 0)) AS base`,
  );
  const base = Number(row?.base ?? 0);
  return Array.from({ length: count }, (_, i) => base + 1 + i);
}

export interface FireRow {
  /** From allocateInstanceIds. */
  id: number;
  slot: number;
  schedule: ScheduleRow;
  workflow: WorkflowRow;
  fireTime: Date;
  /** The schedule slot's lease the fire is made under (lease fencing on). */
  lease?: { slot: number; epoch: number };
}

/**
 * Lease fencing (lease-fence.ts): of the given slots, the leases `node` holds now, unexpired on
 * the database clock — slot → epoch. Postgres only; one statement, pipelined with the locks.
 */
export async function heldLeases(tx: Db, slots: readonly number[], node: string): Promise<Map<number, number>> {
  if (slots.length === 0) return new Map();
  for (const slot of slots) if (!Number.isInteger(slot) || slot < 0) throw new Error(`schedule fire: lease slot ${String(slot)} is not a slot number`);
  const rows = await rawRows(
    tx,
    "postgres",
    sql`SELECT slot, epoch FROM slot_leases WHERE slot = ANY(${`{${slots.join(",")}}`}::text::integer[]) AND owner = ${node} AND expires_at > statement_timestamp()`,
  );
  return new Map(rows.map((r) => [Number(r.slot), Number(r.epoch)]));
}

/**
 * ONE INSERT … ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING * for the fires of
 * PARALLEL workflows: state SUBMITTED_SUCCESS, runType SCHEDULER, the schedule's zone, id and slot
 * given (columns left out take their defaults, as in the drizzle insert of fireSerial). The
 * rows returned are the fires created here; the others exist already. However many rows, the
 * statement is the same: only the JSON parameter grows.
 */
export async function insertFires(tx: Db, dialect: Dialect, t: Tables, fires: readonly FireRow[], now: Date, node: string | null = null): Promise<InstanceRow[]> {
  if (fires.length === 0) return [];
  const pg = dialect === "postgres";
  const columns = "id, slot, project_id, workflow_id, workflow_version, state, run_type, epoch, priority, worker_group, failure_strategy, params, dry_run, schedule_id, schedule_time, timezone, created_at, updated_at";
  let query: SQL;
  if (pg) {
    const rows = fires.map(({ id, slot, schedule: s, workflow: w, fireTime, lease }) => ({
      lease_slot: lease?.slot ?? null,
      lease_epoch: lease?.epoch ?? null,
      id,
      slot,
      project_id: w.projectId,
      workflow_id: w.id,
      workflow_version: w.currentVersion,
      priority: s.priority,
      worker_group: s.workerGroup,
      failure_strategy: s.failureStrategy,
      params: s.params,
      schedule_id: s.id,
      schedule_time: fireTime.toISOString(),
      timezone: s.timezone,
    }));
    query = sql`INSERT INTO workflow_instances (${sql.raw(columns)})
      SELECT f.id, f.slot, f.project_id, f.workflow_id, f.workflow_version, 'SUBMITTED_SUCCESS', 'SCHEDULER', 0, f.priority, f.worker_group,
        f.failure_strategy, f.params, false, f.schedule_id, f.schedule_time, f.timezone, ${time(dialect, now)}, ${time(dialect, now)}
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS f(id bigint, slot integer, project_id bigint, workflow_id bigint, workflow_version integer,
        priority text, worker_group text, failure_strategy text, params jsonb, schedule_id bigint, schedule_time timestamptz, timezone text, lease_slot integer, lease_epoch integer)
      ${node === null ? sql`` : sql`WHERE ${leaseHeld(sql.raw("f.lease_slot"), sql.raw("f.lease_epoch"), node)} `}ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING *`;
  } else {
    const rows = fires.map(({ id, slot, schedule: s, workflow: w, fireTime }) => [id, slot, w.projectId, w.id, w.currentVersion, s.priority, s.workerGroup, s.failureStrategy, s.params, s.id, fireTime.getTime(), s.timezone]);
    const at = (i: number) => `json_extract(f.value, '$[${i}]')`;
    // `WHERE true`: without it SQLite reads ON CONFLICT as a join constraint of the SELECT.
    query = sql`INSERT INTO workflow_instances (${sql.raw(columns)})
      SELECT ${sql.raw(`${at(0)}, ${at(1)}, ${at(2)}, ${at(3)}, ${at(4)}, 'SUBMITTED_SUCCESS', 'SCHEDULER', 0, ${at(5)}, ${at(6)}, ${at(7)}, ${at(8)}, 0, ${at(9)}, ${at(10)}, ${at(11)}`)},
        ${time(dialect, now)}, ${time(dialect, now)}
      FROM json_each(${JSON.stringify(rows)}) AS f WHERE true
      ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING *`;
  }
  return decode(t.workflowInstances, await rawRows(tx, dialect, query));
}

/** Moves the cursor of the schedules forward to `to` (never back): one UPDATE. */
export async function advanceCursors(tx: Db, dialect: Dialect, ids: readonly number[], to: Date): Promise<void> {
  if (ids.length === 0) return;
  await rawRows(
    tx,
    dialect,
    sql`UPDATE schedules SET last_fire_time = ${time(dialect, to)}
      WHERE ${inIds(dialect, "id", ids)} AND (last_fire_time IS NULL OR last_fire_time < ${time(dialect, to)})`,
  );
}

/**
 * Fenced twin of advanceCursors (Postgres, lease fencing on): moves each schedule's cursor to its
 * fire time only while `node` still holds the lease the fire was made under, checked again in
 * this statement like insertFires' own check. Sent after the insert on the same connection, so
 * it runs after it: a lease lost between heldLeases and the insert (a fire waiting for its
 * notBefore, a transaction queued behind locks) leaves the fire uncreated AND the cursor where it
 * was, and the slot's next owner replays the fire from the cursor. The unfenced cursor moved
 * anyway, and the next owner's replay started after the fire nobody created
 * (test/cluster/fence-schedulers-failover.test.ts: one second of one schedule missed at the
 * cut-off, 1 run in 3). One statement for the whole batch: one row per schedule (its latest fire).
 */
export async function advanceFencedCursors(tx: Db, moves: readonly { scheduleId: number; to: Date; slot: number; epoch: number }[], node: string): Promise<void> {
  if (moves.length === 0) return;
  const latest = new Map<number, { id: number; t: string; lease_slot: number; lease_epoch: number }>();
  for (const m of moves) {
    const known = latest.get(m.scheduleId);
    if (!known || Date.parse(known.t) < m.to.getTime()) latest.set(m.scheduleId, { id: m.scheduleId, t: m.to.toISOString(), lease_slot: m.slot, lease_epoch: m.epoch });
  }
  await rawRows(
    tx,
    "postgres",
    sql`UPDATE schedules s SET last_fire_time = f.t
      FROM jsonb_to_recordset(${JSON.stringify([...latest.values()])}::text::jsonb) AS f(id bigint, t timestamptz, lease_slot integer, lease_epoch integer)
      WHERE s.id = f.id AND (s.last_fire_time IS NULL OR s.last_fire_time < f.t) AND ${leaseHeld(sql.raw("f.lease_slot"), sql.raw("f.lease_epoch"), node)}`,
  );
}

/** How far ahead fireMany's `notBefore` may be: the transaction (and its locks) waits for it. */
export const MAX_NOT_BEFORE_MS = 1000;
/** Below this much left, waitUntil spins instead of sleeping: Bun.sleep can oversleep by a millisecond. */
const SPIN_MS = 1;

export function checkNotBefore(notBefore: Date | undefined): void {
  if (notBefore === undefined) return;
  const ahead = notBefore.getTime() - Date.now();
  if (!Number.isFinite(ahead)) throw new Error("schedule fire: notBefore is not a valid date");
  if (ahead > MAX_NOT_BEFORE_MS) throw new Error(`schedule fire: notBefore is ${ahead} ms ahead; expected at most ${MAX_NOT_BEFORE_MS} ms (the transaction waits for it holding its locks)`);
}

/**
 * Returns at the first millisecond of `at` on Date.now(), the clock created_at is stamped with:
 * sleeps while more than SPIN_MS is left, then spins (at most ~SPIN_MS of busy CPU per batch).
 */
export async function waitUntil(at: number): Promise<void> {
  for (let left = at - Date.now(); left > 0; left = at - Date.now()) {
    if (left > SPIN_MS) await Bun.sleep(left - SPIN_MS);
    else while (Date.now() < at);
  }
}
