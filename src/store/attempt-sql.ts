// The hot statements of the engine, written by hand and compiled once: the master's group
// commit (instance fence, attempt inserts, fenced attempt updates, the instance transitions it
// makes) and the worker's dispatch check. drizzle rebuilt each of these queries on every call — 40–70 µs of query building per
// statement on bun:sqlite against ~2–5 µs to run a compiled one, and ~100 µs per op for the
// 17-fragment VALUES rows of the former bulk update on Postgres.
//
// SQLite (one in-process connection, no round trips): one compiled statement per op, in op
// order. Postgres (a round trip per statement): one prepared statement per kind of op per
// batch (an instance transition: one per transition, a handful of texts), its rows passed as ONE jsonb parameter and expanded by jsonb_to_recordset, so the
// SQL text is the same for any row count (prepared once per connection, never re-planned
// from new text).
//
// Guards are the ones of task-instances.ts: an update applies only when id, attempt, token
// (NULL matches NULL), one of the expected states and, when fenced, the workflow instance all
// match; a fence takes the instance row when its epoch is not newer than the caller's. Inserts
// and fenced updates also require their instance's epoch to equal theirs — true, once the
// batch's fence statement ran, exactly for the instances it fenced — so they can be sent right
// behind the fence without waiting for its answer (task-instances.ts).
//
// Lease fencing (lease-fence.ts, Postgres with store.fenceWith): the fence, the guard of inserts
// and fenced updates, and the transition also require the slot lease of the instance's slot to
// be held by the node with that epoch and unexpired; each statement checks it itself, since
// they are pipelined. The fenced texts are separate constants, so an unfenced store runs the
// statements it always ran.

import type { Db, RawAccess } from "./dialect.ts";
import { fencingNode, type LeaseFence, pgLeaseHeld } from "./lease-fence.ts";
import type { DispatchRow, InstanceTransitionOp, TaskAttemptChanges, TaskAttemptInsert, TaskAttemptUpdate, TaskInstanceState, WorkflowInstanceChanges } from "./store.ts";

export interface AttemptSql {
  /**
   * Takes each instance row for its epoch (bumping it), in id order; returns the ids it holds (a
   * newer epoch keeps the others). One epoch per id.
   */
  fence(tx: Db, fences: readonly { id: number; epoch: number }[]): Promise<Set<number>>;
  /** The new row's id per input row, null where the attempt existed (or repeats an earlier row). */
  insert(tx: Db, rows: readonly TaskAttemptInsert[], now: Date): Promise<(number | null)[]>;
  /** Applies updates of DISTINCT rows, each with a non-empty `from`; returns the ids that matched. */
  update(tx: Db, ops: readonly TaskAttemptUpdate[], now: Date): Promise<Set<number>>;
  dispatchRow(id: number): Promise<DispatchRow | null>;
  /**
   * The master's fenced instance transition (state, epoch not newer, the RUNNING / end columns);
   * the id when it applied, null when not; undefined when `set` names a column it does not write
   * (the caller uses the general transitionInstance).
   */
  transition(tx: Db, op: InstanceTransitionOp, now: Date): Promise<number | null> | undefined;
}

/**
 * The columns the master's transitions set (instance-driver.ts: start, end, timeout message).
 * drizzle built its update of workflow_instances on every call, ~150-250 us of query building
 * per statement (bun --cpu-prof), two per run.
 */
const TRANSITION_FIELDS = [
  ["host", "host", "text"],
  ["startTime", "start_time", "time"],
  ["endTime", "end_time", "time"],
  ["message", "message", "text"],
] as const satisfies readonly (readonly [keyof WorkflowInstanceChanges, string, string])[];

/** The columns of `set` in TRANSITION_FIELDS order, or null when it names another one. */
function transitionKeys(set: WorkflowInstanceChanges | undefined): (typeof TRANSITION_FIELDS)[number][] | null {
  if (set) for (const key in set) if (set[key as keyof WorkflowInstanceChanges] !== undefined && !TRANSITION_FIELDS.some(([k]) => k === key)) return null;
  return TRANSITION_FIELDS.filter(([key]) => set?.[key] !== undefined);
}

/** The settable columns, in mask-bit order (the Postgres update carries a mask of the fields set). */
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

const INSERT_COLUMNS =
  "workflow_instance_id, task_name, task_type, state, attempt, dispatch_token, slot, epoch, worker_group, priority, params, submit_time, not_before, created_at, updated_at";
const DISPATCH_COLUMNS = "id, workflow_instance_id, task_name, task_type, state, attempt, dispatch_token, params";

export function attemptSql(raw: RawAccess, read: <T>(fn: () => Promise<T>) => Promise<T>, fence: LeaseFence): AttemptSql {
  return raw.dialect === "sqlite" ? sqliteAttemptSql(raw.statement, read) : postgresAttemptSql(raw, fence);
}

// ── SQLite ─────────────────────────────────────────────────────────────────────────────
// Times are integer milliseconds and JSON is text, as drizzle's schema-sqlite.ts stores them.

type Statement = ReturnType<Extract<RawAccess, { dialect: "sqlite" }>["statement"]>;

/** The guard of inserts and fenced updates: their instance is held at their epoch (true right after its fence). */
const SQLITE_HELD = "SELECT 1 FROM workflow_instances WHERE id = ? AND epoch = ?";

function sqliteAttemptSql(statement: (sql: string) => Statement, read: <T>(fn: () => Promise<T>) => Promise<T>): AttemptSql {
  const ms = (d: Date | null | undefined) => (d ? d.getTime() : null);
  const sqliteValue = (kind: string, v: unknown) => (v == null ? null : kind === "time" ? (v as Date).getTime() : kind === "json" ? JSON.stringify(v) : v);
  // One statement text per shape of update (fields set, number of expected states, fenced or not): a handful in practice.
  const updateText = new Map<string, string>();
  const updateSql = (op: TaskAttemptUpdate, keys: readonly string[]) => {
    const key = `${keys.join(",")}|${op.from.length}|${op.fence ? 1 : 0}`;
    let text = updateText.get(key);
    if (!text) {
      const sets = keys.map((k) => `${FIELDS.find(([f]) => f === k)![1]} = ?`);
      text =
        `UPDATE task_instances SET state = ?, ${op.fence ? "epoch = ?, " : ""}${sets.map((s) => `${s}, `).join("")}updated_at = ? ` +
        `WHERE id = ? AND attempt = ? AND dispatch_token IS ? AND state IN (${op.from.map(() => "?").join(", ")})` +
        `${op.fence ? ` AND workflow_instance_id = ? AND EXISTS (${SQLITE_HELD})` : ""} RETURNING id`;
      updateText.set(key, text);
    }
    return text;
  };
  return {
    fence: async (_tx, fences) => {
      const stmt = statement("UPDATE workflow_instances SET epoch = ? WHERE id = ? AND epoch <= ? RETURNING id");
      const held = new Set<number>();
      for (const { id, epoch } of [...fences].sort((a, b) => a.id - b.id)) if (stmt.get(epoch, id, epoch) !== null) held.add(id);
      return held;
    },

    insert: async (_tx, rows, now) => {
      const stmt = statement(
        `INSERT INTO task_instances (${INSERT_COLUMNS}) SELECT ${INSERT_COLUMNS.split(",").map(() => "?").join(", ")} WHERE EXISTS (${SQLITE_HELD}) ON CONFLICT DO NOTHING RETURNING id`,
      );
      const t = now.getTime();
      return rows.map((op) => {
        const row = stmt.get(
          op.workflowInstanceId,
          op.taskName,
          op.taskType,
          op.state,
          op.attempt,
          op.dispatchToken,
          op.slot,
          op.epoch,
          op.workerGroup ?? "default",
          op.priority ?? "MEDIUM",
          JSON.stringify(op.params ?? {}),
          ms(op.submitTime),
          ms(op.notBefore),
          t,
          t,
          op.workflowInstanceId,
          op.epoch,
        ) as { id: number } | null;
        return row ? row.id : null;
      });
    },

    update: async (_tx, ops, now) => {
      const applied = new Set<number>();
      const t = now.getTime();
      for (const op of ops) {
        const set = op.set ?? {};
        const keys = FIELDS.filter(([k]) => set[k] !== undefined).map(([k]) => k);
        const values: unknown[] = [op.to];
        if (op.fence) values.push(op.fence.epoch);
        for (const k of keys) values.push(sqliteValue(FIELDS.find(([f]) => f === k)![2], set[k]));
        values.push(t, op.id, op.attempt, op.token, ...op.from);
        if (op.fence) values.push(op.fence.workflowInstanceId, op.fence.workflowInstanceId, op.fence.epoch);
        const row = statement(updateSql(op, keys)).get(...(values as never[])) as { id: number } | null;
        if (row) applied.add(row.id);
      }
      return applied;
    },

    transition: (_tx, op, now) => {
      const fields = transitionKeys(op.set);
      if (!fields || op.from.length === 0) return fields ? Promise.resolve(null) : undefined;
      const stmt = statement(
        `UPDATE workflow_instances SET state = ?, epoch = ?, ${fields.map(([, column]) => `${column} = ?, `).join("")}updated_at = ? ` +
          `WHERE id = ? AND state IN (${op.from.map(() => "?").join(", ")}) AND epoch <= ? RETURNING id`,
      );
      const values = [op.to, op.epoch, ...fields.map(([key, , kind]) => sqliteValue(kind, op.set![key])), now.getTime(), op.id, ...op.from, op.epoch];
      const row = stmt.get(...(values as never[])) as { id: number } | null;
      return Promise.resolve(row ? row.id : null);
    },

    dispatchRow: (id) =>
      read(async () => {
        const row = statement(`SELECT ${DISPATCH_COLUMNS} FROM task_instances WHERE id = ?`).get(id) as Record<string, unknown> | null;
        return row ? toDispatchRow(row, JSON.parse(row.params as string) as Record<string, string>) : null;
      }),
  };
}

// ── Postgres ───────────────────────────────────────────────────────────────────────────
// bigint columns come back as strings (postgres.js); jsonb parameters are passed as text
// (drizzle made postgres.js's json serializers transparent on this client).

// Every statement also names its rows' ids as a plain id list (`= ANY(…)`, $ids): a prepared
// statement soon runs a generic plan, and the planner cannot see how many rows a jsonb parameter
// holds (it assumes 100), so a join on it alone became a hash join over a sequential scan of the
// whole table once it held some 10,000 rows (store-batch: one completion 3.4 ms instead of ~1 ms).
// An id list keeps every lookup an index scan whatever the table size.
const IDS = (n: number) => `ANY(string_to_array($${n}::text, ',')::bigint[])`;

// All fences of a batch in one round trip (a statement per instance was 200 round trips per batch
// with 200 runs in flight). The rows are locked first, in id order (ORDER BY … FOR UPDATE locks in
// the sort order), so two batches naming the same instances cannot deadlock.
const pgFence = (fenced: boolean) => `WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(id bigint, epoch integer)),
  locked AS MATERIALIZED (SELECT w.id FROM workflow_instances w WHERE w.id = ${IDS(2)} ORDER BY w.id FOR UPDATE)
  UPDATE workflow_instances AS w SET epoch = v.epoch FROM v, locked
  WHERE w.id = ${IDS(2)} AND w.id = v.id AND locked.id = w.id AND w.epoch <= v.epoch${fenced ? ` AND ${pgLeaseHeld("w.slot", "v.epoch", "$3")}` : ""}
  RETURNING w.id`;
/**
 * Their instance holds their epoch (true right after the batch's fence, for the instances it
 * fenced); fenced by the lease, also the lease of the instance's slot at that epoch (node: $node).
 */
const PG_HELD = (instance: string, ids: number, node: number | null) =>
  `(${instance}, v.epoch) IN (SELECT w.id, w.epoch FROM workflow_instances w WHERE w.id = ${IDS(ids)}${node === null ? "" : ` AND ${pgLeaseHeld("w.slot", "w.epoch", `$${node}`)}`})`;
const pgInsert = (fenced: boolean) => `INSERT INTO task_instances (${INSERT_COLUMNS})
  SELECT v.workflow_instance_id, v.task_name, v.task_type, v.state, v.attempt, v.dispatch_token, v.slot, v.epoch, v.worker_group, v.priority, v.params, v.submit_time, v.not_before, $2::timestamptz, $2::timestamptz
  FROM jsonb_to_recordset($1::jsonb) AS v(workflow_instance_id bigint, task_name text, task_type text, state text, attempt integer, dispatch_token text,
    slot integer, epoch integer, worker_group text, priority text, params jsonb, submit_time timestamptz, not_before timestamptz, ord integer)
  WHERE ${PG_HELD("v.workflow_instance_id", 3, fenced ? 4 : null)}
  ORDER BY v.ord -- ids in the batch's order (the planner may reorder the rows for the guard)
  ON CONFLICT DO NOTHING
  RETURNING id, workflow_instance_id, task_name, attempt`;
const pgUpdate = (fenced: boolean) => `UPDATE task_instances AS t SET state = v.to_state, epoch = COALESCE(v.epoch, t.epoch),
  ${FIELDS.map(([, column], bit) => `${column} = CASE WHEN (v.mask & ${1 << bit}) <> 0 THEN v.${column} ELSE t.${column} END`).join(",\n  ")},
  updated_at = $2::timestamptz
  FROM jsonb_to_recordset($1::jsonb) AS v(id bigint, attempt integer, token text, from_states text[], to_state text, mask integer, epoch integer, fence_instance bigint,
    ${FIELDS.map(([, column, kind]) => `${column} ${kind === "time" ? "timestamptz" : kind === "json" ? "jsonb" : kind === "int" ? "integer" : "text"}`).join(", ")})
  WHERE t.id = ${IDS(3)} AND t.id = v.id AND t.attempt = v.attempt AND t.dispatch_token IS NOT DISTINCT FROM v.token AND t.state = ANY(v.from_states)
    AND (v.fence_instance IS NULL OR (t.workflow_instance_id = v.fence_instance AND ${PG_HELD("v.fence_instance", 4, fenced ? 5 : null)}))
  RETURNING t.id`;
/** [unfenced, fenced by the lease]. */
const PG_FENCE = [pgFence(false), pgFence(true)] as const;
const PG_INSERT = [pgInsert(false), pgInsert(true)] as const;
const PG_UPDATE = [pgUpdate(false), pgUpdate(true)] as const;
const PG_DISPATCH = `SELECT ${DISPATCH_COLUMNS} FROM task_instances WHERE id = $1`;

const attemptKey = (workflowInstanceId: number, taskName: string, attempt: number) => `${workflowInstanceId}\u0000${attempt}\u0000${taskName}`;

function postgresAttemptSql(raw: Extract<RawAccess, { dialect: "postgres" }>, fence: LeaseFence): AttemptSql {
  const run = (client: ReturnType<typeof raw.clientOf>, text: string, params: unknown[]) =>
    client.unsafe(text, params as never[], { prepare: true }) as unknown as Promise<Record<string, unknown>[]>;
  return {
    fence: async (tx, fences) => {
      const node = fencingNode("postgres", fence);
      const params = [JSON.stringify(fences), fences.map((f) => f.id).join(",")];
      const rows = await run(raw.clientOf(tx), PG_FENCE[node === null ? 0 : 1], node === null ? params : [...params, node]);
      return new Set(rows.map((r) => Number(r.id)));
    },

    insert: async (tx, rows, now) => {
      const payload = rows.map((op, ord) => ({
        ord,
        workflow_instance_id: op.workflowInstanceId,
        task_name: op.taskName,
        task_type: op.taskType,
        state: op.state,
        attempt: op.attempt,
        dispatch_token: op.dispatchToken,
        slot: op.slot,
        epoch: op.epoch,
        worker_group: op.workerGroup ?? "default",
        priority: op.priority ?? "MEDIUM",
        params: op.params ?? {},
        submit_time: op.submitTime ?? null,
        not_before: op.notBefore ?? null,
      }));
      const instances = [...new Set(rows.map((op) => op.workflowInstanceId))].join(",");
      const node = fencingNode("postgres", fence);
      const params = [JSON.stringify(payload), now.toISOString(), instances];
      const inserted = await run(raw.clientOf(tx), PG_INSERT[node === null ? 0 : 1], node === null ? params : [...params, node]);
      const ids = new Map(inserted.map((r) => [attemptKey(Number(r.workflow_instance_id), r.task_name as string, r.attempt as number), Number(r.id)]));
      return rows.map((op) => {
        const key = attemptKey(op.workflowInstanceId, op.taskName, op.attempt);
        const id = ids.get(key);
        // The same attempt twice in one batch: the first one is the insert, the rest are duplicates.
        if (id !== undefined) ids.delete(key);
        return id ?? null;
      });
    },

    update: async (tx, ops, now) => {
      const payload = ops.map((op) => {
        const set = op.set ?? {};
        const row: Record<string, unknown> = {
          id: op.id,
          attempt: op.attempt,
          token: op.token,
          from_states: op.from,
          to_state: op.to,
          mask: 0,
          epoch: op.fence?.epoch ?? null,
          fence_instance: op.fence?.workflowInstanceId ?? null,
        };
        let mask = 0;
        FIELDS.forEach(([key, column], bit) => {
          if (set[key] === undefined) return;
          mask |= 1 << bit;
          row[column] = set[key];
        });
        row.mask = mask;
        return row;
      });
      const instances = [...new Set(ops.flatMap((op) => (op.fence ? [op.fence.workflowInstanceId] : [])))].join(",");
      const node = fencingNode("postgres", fence);
      const params = [JSON.stringify(payload), now.toISOString(), ops.map((op) => op.id).join(","), instances];
      const rows = await run(raw.clientOf(tx), PG_UPDATE[node === null ? 0 : 1], node === null ? params : [...params, node]);
      return new Set(rows.map((r) => Number(r.id)));
    },

    transition: (tx, op, now) => {
      const fields = transitionKeys(op.set);
      if (!fields || op.from.length === 0) return fields ? Promise.resolve(null) : undefined;
      const sets = fields.map(([, column, kind], i) => `${column} = $${i + 5}${kind === "time" ? "::timestamptz" : ""}`);
      const node = fencingNode("postgres", fence);
      const values = [op.to, op.epoch, now.toISOString(), op.id, ...fields.map(([key, , kind]) => (kind === "time" ? ((op.set![key] as Date | null)?.toISOString() ?? null) : op.set![key])), ...op.from];
      const lease = node === null ? "" : ` AND ${pgLeaseHeld("workflow_instances.slot", "$2", `$${values.push(node)}`)}`;
      const text =
        `UPDATE workflow_instances SET state = $1, epoch = $2, ${sets.map((x) => `${x}, `).join("")}updated_at = $3::timestamptz ` +
        `WHERE id = $4 AND state IN (${op.from.map((_, i) => `$${i + 5 + fields.length}`).join(", ")}) AND epoch <= $2${lease} RETURNING id`;
      return run(raw.clientOf(tx), text, values).then((rows) => (rows[0] ? Number(rows[0].id) : null));
    },

    dispatchRow: async (id) => {
      const [row] = await run(raw.client, PG_DISPATCH, [id]);
      return row ? toDispatchRow(row, row.params as Record<string, string>) : null;
    },
  };
}

function toDispatchRow(row: Record<string, unknown>, params: Record<string, string>): DispatchRow {
  return {
    id: Number(row.id),
    workflowInstanceId: Number(row.workflow_instance_id),
    taskName: row.task_name as string,
    taskType: row.task_type as string,
    state: row.state as TaskInstanceState,
    attempt: Number(row.attempt),
    dispatchToken: (row.dispatch_token as string | null) ?? null,
    params,
  };
}
