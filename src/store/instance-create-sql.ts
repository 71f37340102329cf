// Postgres: a workflow instance created by ONE autocommit statement instead of a transaction.
// The transaction of instances.create is BEGIN, the workflow lock (with the id drawn beside it),
// the INSERT and COMMIT: four sequential round trips. Here the lock is a data-modifying CTE of
// the INSERT, so the statement still locks the workflow row, inserts only while the workflow is
// ONLINE and its version exists, and commits, in one round trip after the id is drawn.
// Measured (POST …/run, `porpoise all --db postgres://…`, 2-core box at load average ~6): the
// create took 9.2–10.2 ms p50 as a transaction of five round trips, 1.9 ms as nextval + this.
// Given the slot count, the id is drawn inside the statement too (migration 0019).
// Only for creates without a command to consume, a serial decision, a schedule or a parent
// (their lookups and violations stay in the transaction path); every other column of
// NewWorkflowInstance, and the audit row, is written as the transaction writes it.
//
// Sent as a named prepared statement (its text is one of four, by audit row and id drawing):
// drizzle's execute sends it unnamed, and Postgres then parsed and planned the CTE on every run
// (server log of the cluster's chain bench: parse 0.25 + bind 0.38 + execute 0.54 ms per create).

import { type SQL, sql } from "drizzle-orm";
import type { Sql } from "postgres";
import type { Db, Tables } from "./dialect.ts";
import { decode, type InstanceRow } from "./schedule-fire-sql.ts";
import type { NewWorkflowInstance } from "./run-store.ts";

export function oneStatementCreate(input: NewWorkflowInstance): boolean {
  return (
    input.consumeCommand === undefined &&
    (input.executionType === undefined || input.executionType === "PARALLEL") &&
    input.scheduleId == null &&
    input.parentTaskInstanceId == null
  );
}

/**
 * The new row, or null when the workflow is gone, not ONLINE or lacks the version (the caller finds
 * out which). `key`: the id drawn before and its slot, or the slot count, and the statement draws
 * the id itself and computes the slot with porpoise_slot_of_instance (migration 0019): one round
 * trip for the whole create. An id drawn for a create that inserts nothing is a gap.
 */
export async function createInOneStatement(
  db: Db,
  client: Sql,
  t: Tables,
  input: NewWorkflowInstance,
  key: { id: number; slot: number } | { slotCount: number },
  now: Date,
): Promise<InstanceRow | null> {
  const at = now.toISOString();
  const drawn = "slotCount" in key;
  const idCte = drawn ? sql`n AS (SELECT nextval(pg_get_serial_sequence('workflow_instances', 'id')) AS id), ` : sql``;
  const idValue = drawn ? sql`n.id, porpoise_slot_of_instance(n.id, ${key.slotCount}::integer)` : sql`${key.id}::bigint, ${key.slot}::integer`;
  const from = drawn ? sql`FROM w, n` : sql`FROM w`;
  const version = input.version ?? null;
  const audit = input.audit;
  // The audit row (a manual run: who ran what) is one more CTE of the same statement: written
  // exactly when the instance is, still one round trip.
  const auditCte = audit
    ? sql`, a AS (
      INSERT INTO audit_log (at, actor_id, actor_name, action, object_type, object_id, project_id, details)
      SELECT ${at}::timestamptz, ${audit.actor.userId}::bigint, ${audit.actor.userName}::text, ${audit.action}::text, 'workflow-instance', i.id::text,
        i.project_id, ${JSON.stringify(audit.details)}::text::jsonb
      FROM i
    )`
    : sql``;
  const query = sql`WITH ${idCte}w AS (
      UPDATE workflow_definitions SET updated_at = updated_at WHERE id = ${input.workflowId}
      RETURNING id, project_id, release_state, current_version
    ), i AS (
    INSERT INTO workflow_instances (id, slot, project_id, workflow_id, workflow_version, state, run_type, epoch, priority, worker_group,
      failure_strategy, params, start_tasks, depend_type, dry_run, host, timezone, schedule_time, executor_id, request_key, created_at, updated_at)
    SELECT ${idValue}, w.project_id, w.id, COALESCE(${version}::integer, w.current_version), ${input.state ?? "SUBMITTED_SUCCESS"}::text,
      ${input.runType}::text, ${input.epoch ?? 0}::integer, ${input.priority ?? "MEDIUM"}::text, ${input.workerGroup ?? "default"}::text,
      ${input.failureStrategy ?? "END"}::text, ${JSON.stringify(input.params ?? {})}::text::jsonb,
      ${input.startTasks == null ? null : JSON.stringify(input.startTasks)}::text::jsonb, ${input.dependType ?? null}::text,
      ${input.dryRun ?? false}::boolean, ${input.host ?? null}::text, ${input.timezone ?? "UTC"}::text,
      ${input.scheduleTime == null ? null : input.scheduleTime.toISOString()}::timestamptz, ${input.executorId ?? null}::bigint, ${input.requestKey ?? null}::text, ${at}::timestamptz, ${at}::timestamptz
    ${from}
    WHERE w.release_state = 'ONLINE'
      AND EXISTS (SELECT 1 FROM workflow_versions v WHERE v.workflow_id = w.id AND v.version = COALESCE(${version}::integer, w.current_version))
    RETURNING *
    )${auditCte}
    SELECT * FROM i`;
  const [row] = decode(t.workflowInstances, await preparedRows(db, client, query));
  return row ?? null;
}

/** drizzle's dialect of a postgres-js database: what turns its SQL into text and parameters. */
interface WithDialect {
  dialect?: { sqlToQuery(query: SQL): { sql: string; params: unknown[] } };
}

/** `query` as a named prepared statement of `client` (postgres.js keeps one per text and connection). */
async function preparedRows(db: Db, client: Sql, query: SQL): Promise<Record<string, unknown>[]> {
  const dialect = (db as unknown as WithDialect).dialect;
  if (!dialect) throw new Error("drizzle database without a dialect: drizzle-orm changed; update instance-create-sql.ts");
  const { sql: text, params } = dialect.sqlToQuery(query);
  return (await client.unsafe(text, params as never[], { prepare: true })) as unknown as Record<string, unknown>[];
}
