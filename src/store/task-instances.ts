// Task instances (one row per attempt) and the group-commit primitive the master's hot path
// uses: applyBatch writes many attempt inserts, fenced attempt updates and instance
// transitions in ONE transaction and reports one outcome per op. A successor is dispatched
// only after the batch holding its predecessor's result has committed (docs/architecture.md §3.7);
// batching is how that stays fast.
//
// Fencing: an insert (and an update carrying `fence`) first takes its workflow instance's row
// with `UPDATE … SET epoch = e WHERE id = ? AND epoch <= e` — one statement per instance and
// epoch per batch. A master whose slot was taken over (a newer epoch wrote the instance) gets
// "stale" for every op of that instance; the row lock also serialises it with the newer
// master's transitions. An update is additionally guarded by id + attempt + token + state.
// Fences, inserts, updates and the master's instance transitions are hand-written compiled
// statements (attempt-sql.ts); a transition setting other columns and everything off the hot
// path go through drizzle.

import { and, asc, count, eq, inArray, isNull, notInArray } from "drizzle-orm";
import type { Db, Runner, Tables } from "./dialect.ts";
import { transitionInstance } from "./instances.ts";
import { completeCommand } from "./commands.ts";
import { attemptSql, type AttemptSql } from "./attempt-sql.ts";
import { BATCH_MARKER_TTL_MS, batchCommitSql } from "./batch-commit-sql.ts";
import { alsoBeforeCommit } from "./commit-tail.ts";
import { type Arg, hotRead } from "./prepared-reads.ts";
import { fencingNode, leaseHeld } from "./lease-fence.ts";
import { violationOf } from "./sql-errors.ts";
import { chunks, inChunks } from "./rows.ts";
import { insertOutbox } from "./alert-outbox-sql.ts";
import { ALERT_EVENTS } from "../core/alert-events.ts";
import type {
  TaskAttemptInsert,
  TaskAttemptUpdate,
  TaskBatchOp,
  TaskBatchOutcome,
  TaskInstance,
  TaskInstanceRepository,
  TaskInstanceState,
} from "./store.ts";

type Row = Tables["taskInstances"]["$inferSelect"];

/** Attempts that a dead process may have been running (restart recovery). */
const IN_FLIGHT: TaskInstanceState[] = ["DISPATCH", "RUNNING_EXECUTION"];
/** Rows per insert / update call (one jsonb parameter each on Postgres; per-row statements on SQLite). */
const INSERT_CHUNK = 1000;
const UPDATE_CHUNK = 1000;

export function toTaskInstance(row: Row): TaskInstance {
  return {
    id: row.id,
    workflowInstanceId: row.workflowInstanceId,
    taskName: row.taskName,
    taskType: row.taskType,
    state: row.state,
    attempt: row.attempt,
    dispatchToken: row.dispatchToken,
    slot: row.slot,
    epoch: row.epoch,
    workerGroup: row.workerGroup,
    priority: row.priority,
    host: row.host,
    submitTime: row.submitTime,
    startTime: row.startTime,
    endTime: row.endTime,
    notBefore: row.notBefore,
    params: row.params,
    output: row.output,
    exitCode: row.exitCode,
    logPath: row.logPath,
    message: row.message,
    superseded: row.superseded,
    warning: row.warning,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

const STALE: TaskBatchOutcome = { outcome: "stale" };
const DUPLICATE: TaskBatchOutcome = { outcome: "duplicate" };

/** The epoch each instance is fenced with in this batch: the newest one any of its ops carries. */
function fencesOf(ops: readonly TaskBatchOp[]): Map<number, number> {
  const fences = new Map<number, number>();
  for (const op of ops) {
    const fence = op.op === "insert" ? { id: op.workflowInstanceId, epoch: op.epoch } : op.op === "update" && op.fence ? { id: op.fence.workflowInstanceId, epoch: op.fence.epoch } : null;
    if (fence && !(fences.get(fence.id)! >= fence.epoch)) fences.set(fence.id, fence.epoch);
  }
  return fences;
}

export function createTaskInstanceRepository(run: Runner): TaskInstanceRepository {
  const { t } = run;
  const ti = t.taskInstances;
  /** listForInstance(): a master reads the rows of every run it loads (prepared-reads.ts). */
  const ofInstance = hotRead("porpoise_attempts_of_instance", (db, arg: Arg<{ workflowInstanceId: number }>) =>
    db.select().from(ti).where(eq(ti.workflowInstanceId, arg("workflowInstanceId"))).orderBy(asc(ti.taskName), asc(ti.attempt)),
  );
  const hot = attemptSql(run.raw, (fn) => run.read(() => fn()), run.fence);
  const markers = batchCommitSql(run.raw, (fn) => run.read(() => fn()));
  let prunedAt = 0;

  const applyBatch = async (ops: readonly TaskBatchOp[], batch?: { id: string; retry?: boolean }): Promise<TaskBatchOutcome[]> => {
    if (ops.length === 0) return [];
    if (!batch) return applyOnce(ops, undefined);
    for (;;) {
      if (batch.retry) {
        const committed = await markers.find(batch.id);
        if (committed) return committed;
      }
      try {
        return await applyOnce(ops, batch.id);
      } catch (err) {
        // The marker's key is taken: the first try's COMMIT went through after all (it was still running). Read it.
        const v = violationOf(err) ?? violationOf((err as { cause?: unknown }).cause);
        if (v?.kind !== "unique" || !/batch_commits/.test(v.constraint)) throw err;
        batch = { id: batch.id, retry: true };
      }
    }
  };

  const applyOnce = (ops: readonly TaskBatchOp[], batchId: string | undefined) =>
    run.writePipelined(async (tx) => {
      const now = new Date();
      const outcomes: TaskBatchOutcome[] = new Array(ops.length);
      // Sent together, in this order, without waiting for each other: on Postgres one round trip
      // instead of three (pipelined on the transaction's connection, executed in order). That is
      // sound because inserts and fenced updates carry their own guard — their instance's epoch
      // equals theirs — which, once the fence statement ran, holds exactly for the instances it
      // fenced for that epoch. An op of an older epoch than another op of its instance in the
      // same batch is stale: the newer epoch holds the instance.
      const fences = fencesOf(ops);
      const fencing = fences.size === 0 ? Promise.resolve(new Set<number>()) : hot.fence(tx, [...fences].map(([id, epoch]) => ({ id, epoch })));
      const inserts: { index: number; op: TaskAttemptInsert }[] = [];
      // A second update of the same row in one batch goes after, alone, so it sees the first one's effect.
      const bulk: { index: number; op: TaskAttemptUpdate }[] = [];
      const later: { index: number; op: TaskAttemptUpdate }[] = [];
      const seen = new Set<number>();
      ops.forEach((op, index) => {
        if (op.op === "insert") inserts.push({ index, op });
        else if (op.op !== "update") return;
        else if (op.from.length === 0) outcomes[index] = STALE;
        else if (seen.has(op.id)) later.push({ index, op });
        else {
          seen.add(op.id);
          bulk.push({ index, op });
        }
      });
      const pending: Promise<void>[] = [fencing.then(() => {})];
      for (let start = 0; start < inserts.length; start += INSERT_CHUNK) {
        const chunk = inserts.slice(start, start + INSERT_CHUNK);
        pending.push(
          hot.insert(tx, chunk.map((i) => i.op), now).then(async (ids) => {
            const held = await fencing;
            chunk.forEach(({ index, op }, i) => {
              const id = ids[i];
              if (id !== null && id !== undefined) outcomes[index] = { outcome: "applied", id };
              else outcomes[index] = held.has(op.workflowInstanceId) && fences.get(op.workflowInstanceId) === op.epoch ? DUPLICATE : STALE;
            });
          }),
        );
      }
      const updates = [...chunks(bulk, UPDATE_CHUNK), ...later.map((u) => [u])];
      for (const chunk of updates) {
        pending.push(
          hot.update(tx, chunk.map((u) => u.op), now).then((applied) => {
            for (const { index, op } of chunk) outcomes[index] = applied.has(op.id) ? { outcome: "applied", id: op.id } : STALE;
          }),
        );
      }
      // The master's instance transitions as compiled statements go in the same pipeline, after
      // the fence, inserts and updates (each is fenced by the lease and the epoch on its own, and
      // needs none of their results); another column set goes through drizzle, once everything
      // sent before it has answered.
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op.op !== "instance") continue;
        const settle = (id: number | null) => void (outcomes[i] = id !== null ? { outcome: "applied", id } : STALE);
        const hand = hot.transition(tx, op, now);
        if (hand) {
          pending.push(hand.then(settle));
          continue;
        }
        await Promise.all(pending);
        settle((await transitionInstance(tx, t, op.id, op, now, fencingNode(run.dialect, run.fence)))?.id ?? null);
      }
      await Promise.all(pending);
      // Last: an alert is written only with the state change it reports, and a command's done-mark
      // commits with its effect, or not at all (the master gives it back).
      // Alerts need only the outcomes above: all of them in one round trip on Postgres (pipelined).
      const alerts: Promise<number>[] = [];
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op.op !== "alert") continue;
        const effective = op.after.every((k) => k !== i && outcomes[k]?.outcome === "applied");
        if (effective) alerts.push(insertOutbox(run.raw, tx, { ...op, kind: op.kind }));
        outcomes[i] = effective ? { outcome: "applied", id: op.workflowInstanceId } : STALE;
      }
      await Promise.all(alerts);
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op.op !== "command") continue;
        const effective = op.after.every((k) => k !== i && outcomes[k]?.outcome === "applied");
        outcomes[i] = effective && (await completeCommand(tx, t, op.id, op.consumer, now, fencingNode(run.dialect, run.fence))) ? { outcome: "applied", id: op.id } : STALE;
      }
      if (batchId !== undefined) {
        if (now.getTime() - prunedAt > BATCH_MARKER_TTL_MS / 10) {
          prunedAt = now.getTime();
          await markers.prune(tx, new Date(now.getTime() - BATCH_MARKER_TTL_MS));
        }
        // Last, and on Postgres sent with the COMMIT (commit-tail.ts): its unique key still makes a
        // retried batch that already committed fail, before anything of it commits twice.
        const recording = markers.record(tx, batchId, outcomes, now);
        if (!alsoBeforeCommit(tx, recording)) await recording;
      }
      return outcomes;
    });

  return {
    applyBatch,

    complete: async (input) => {
      const [result] = await applyBatch([
        {
          op: "update",
          id: input.id,
          attempt: input.attempt,
          token: input.token,
          from: input.from ?? IN_FLIGHT,
          to: input.state,
          set: {
            endTime: input.endTime,
            ...(input.output !== undefined ? { output: input.output } : {}),
            ...(input.exitCode !== undefined ? { exitCode: input.exitCode } : {}),
            ...(input.message !== undefined ? { message: input.message } : {}),
          },
        },
      ]);
      return result?.outcome === "applied" ? "applied" : "stale";
    },

    get: (id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(ti).where(eq(ti.id, id));
        return row ? toTaskInstance(row) : null;
      }),

    dispatchRow: (id) => hot.dispatchRow(id),

    listForInstance: (workflowInstanceId) =>
      run.read(async (db) => {
        const rows = await ofInstance(run, db, { workflowInstanceId });
        return rows.map(toTaskInstance);
      }),

    listForInstances: (workflowInstanceIds) =>
      run.read(async (db) => {
        const byInstance = new Map<number, TaskInstance[]>();
        for (const ids of inChunks(workflowInstanceIds)) {
          const rows = await db.select().from(ti).where(inArray(ti.workflowInstanceId, ids)).orderBy(asc(ti.workflowInstanceId), asc(ti.taskName), asc(ti.attempt));
          for (const row of rows) {
            let list = byInstance.get(row.workflowInstanceId);
            if (!list) byInstance.set(row.workflowInstanceId, (list = []));
            list.push(toTaskInstance(row));
          }
        }
        return byInstance;
      }),

    recordWarning: (input) =>
      run.write(async (tx) => {
        const [row] = await tx
          .update(ti)
          .set({ warning: input.message })
          .where(and(eq(ti.id, input.id), eq(ti.attempt, input.attempt), input.token === null ? isNull(ti.dispatchToken) : eq(ti.dispatchToken, input.token), isNull(ti.warning)))
          .returning({ id: ti.id, workflowInstanceId: ti.workflowInstanceId });
        if (!row) return false;
        const wi = t.workflowInstances;
        const [instance] = await tx.select({ projectId: wi.projectId, workflowId: wi.workflowId, scheduleId: wi.scheduleId }).from(wi).where(eq(wi.id, row.workflowInstanceId));
        if (instance) {
          // The outbox row of every policy that wants WARN timeouts (migration 0015), in the same transaction.
          await insertOutbox(run.raw, tx, {
            kind: "TASK_WARN_TIMEOUT",
            projectId: instance.projectId,
            workflowId: instance.workflowId,
            scheduleId: instance.scheduleId,
            workflowInstanceId: row.workflowInstanceId,
            taskInstanceId: row.id,
            state: null,
            message: input.message,
            mask: ALERT_EVENTS["task-warn-timeout"],
          });
        }
        await tx.insert(t.alertEvents).values({
          at: new Date(),
          kind: "TASK_TIMEOUT_WARNING",
          projectId: instance?.projectId ?? null,
          workflowInstanceId: row.workflowInstanceId,
          taskInstanceId: row.id,
          message: input.message,
        });
        return true;
      }),

    markInterrupted: (query) =>
      run.write(async (tx) => {
        if (query.slots && query.slots.length === 0) return [];
        const fenceNode = fencingNode(run.dialect, run.fence);
        const rows = await tx
          .update(ti)
          .set({ state: "NEED_FAULT_TOLERANCE", updatedAt: new Date() })
          .where(
            and(
              inArray(ti.state, IN_FLIGHT),
              "host" in query ? eq(ti.host, query.host) : undefined,
              query.slots ? inArray(ti.slot, [...query.slots]) : undefined,
              query.keep && query.keep.length > 0 ? notInArray(ti.id, [...query.keep]) : undefined,
              // Fenced: only attempts of slots this node holds now (lease-fence.ts), whatever their epoch.
              fenceNode === null ? undefined : leaseHeld(ti.slot, null, fenceNode),
            ),
          )
          .returning();
        return rows.map(toTaskInstance).sort((a, b) => a.id - b.id);
      }),

    listInFlight: (query) =>
      run.read(async (db) => {
        if (query.slots && query.slots.length === 0) return [];
        const rows = await db
          .select()
          .from(ti)
          .where(and(inArray(ti.state, IN_FLIGHT), query.slots ? inArray(ti.slot, [...query.slots]) : undefined))
          .orderBy(asc(ti.id));
        return rows.map(toTaskInstance);
      }),

    dispatchedByGroup: () =>
      run.read(async (db) => {
        const rows = await db.select({ group: ti.workerGroup, n: count() }).from(ti).where(eq(ti.state, "DISPATCH")).groupBy(ti.workerGroup);
        return Object.fromEntries(rows.map((r) => [r.group, Number(r.n)]));
      }),
  };
}
