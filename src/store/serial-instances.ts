// Serial execution types (SERIAL_WAIT / SERIAL_DISCARD / SERIAL_PRIORITY) as store steps.
// Every decision runs in ONE transaction that first locks the workflow definition row (the
// same no-op UPDATE instances.create takes), so "run now, wait or discard" and "who starts
// next" are serialised per workflow across every process sharing the Store: two runs
// submitted at once cannot both see "nothing active" (docs/architecture.md §3.2). The queue is the
// SERIAL_WAIT rows themselves, oldest id first — nothing lives only in memory.
//
// Messages follow DolphinScheduler's ProcessServiceImpl.saveSerialProcess; a discarded instance
// carries its reason in `message` (naming the instance that caused it) and an audit row
// (`instance.discard`).
//
// Controls that submit an ended instance again (resume, rerun, recover-failed) go through the
// same decision, as every DS command does (handleCommand → saveSerialProcess, RECOVER and
// REPEAT commands included): `restartInstance`. What each type means for a control:
// - SERIAL_WAIT: the instance waits (SERIAL_WAIT) and keeps the control in `pending_control`,
//   so whoever starts it later — the queue, or a master after a restart — applies the control's
//   start mode. The queue stays in id order (DS loadNextProcess4Serial): a resumed instance
//   takes its original place, ahead of runs created after it.
// - SERIAL_PRIORITY: as SERIAL_WAIT, and the instance is the newest in the queue (the user's
//   latest request wins), so the other waiting ones end STOP.
// - SERIAL_DISCARD: refused while another instance is active — the instance keeps its state
//   (PAUSE, FAILURE, …) and `message` says why. DS would turn it into STOP ("stop by
//   serial_discard strategy"), which loses the state the user wanted to act on; refusing
//   keeps it, and the API answers 409 before even queueing the command.

import { and, asc, eq, inArray, ne, notInArray, sql } from "drizzle-orm";
import type { ExecutionType } from "../core/workflow-schema.ts";
import { writeAudit } from "./audit.ts";
import { completeCommand } from "./commands.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { type Arg, hotRead } from "./prepared-reads.ts";
import { fencingNode, leaseHeld } from "./lease-fence.ts";
import { TERMINAL_WORKFLOW_STATES } from "./model.ts";
import type { InstanceRestart, PendingControl } from "./run-store.ts";

type Row = Tables["workflowInstances"]["$inferSelect"];

const SYSTEM = { userId: null, userName: "porpoise" };

export const SERIAL_MESSAGES = {
  discard: "stop by serial_discard strategy",
  priority: "stop by serial_priority strategy",
} as const;

/** The `message` of an instance a serial type ended or refused, naming the instance that caused it. */
export const serialMessage = {
  discard: (activeId: number) => `${SERIAL_MESSAGES.discard}: workflow instance ${activeId} is active`,
  priority: (newerId: number) => `${SERIAL_MESSAGES.priority}: workflow instance ${newerId} is newer in the queue`,
  refused: (control: PendingControl, activeId: number) =>
    `${control} refused by serial_discard strategy: workflow instance ${activeId} is active; ${control} again once it has ended`,
};

/** States of an instance that holds (or is queued for) its workflow's serial slot. */
const NOT_ACTIVE = [...TERMINAL_WORKFLOW_STATES];
/** Active but not yet holding the slot. */
const RUNNING_EXCLUDED = [...TERMINAL_WORKFLOW_STATES, "SERIAL_WAIT"] as const;

export interface SerialAdmission {
  state: "SUBMITTED_SUCCESS" | "SERIAL_WAIT" | "STOP";
  executionType: ExecutionType;
  /** The active instance that makes the new one wait or be discarded; null when it runs now. */
  blockedBy: number | null;
  /** For the inserted row's `message`: why it was discarded (state STOP); else null. */
  message: string | null;
}

/** Locks the workflow row (no-op UPDATE): serialises with creates and releases of the same workflow. */
export async function lockWorkflow(tx: Db, t: Tables, workflowId: number): Promise<boolean> {
  const [row] = await tx.update(t.workflowDefinitions).set({ updatedAt: sql`${t.workflowDefinitions.updatedAt}` }).where(eq(t.workflowDefinitions.id, workflowId)).returning({ id: t.workflowDefinitions.id });
  return row !== undefined;
}

/**
 * Inside the create transaction, after the workflow row is locked: the state a new instance
 * starts in. Any active instance of the workflow (running, submitted, paused-in-progress or
 * waiting — DS RUNNING_PROCESS_STATE) makes it wait, or discards it under SERIAL_DISCARD;
 * waiting ones count too, so a new run never overtakes the queue.
 */
export async function admitSerial(tx: Db, t: Tables, workflowId: number, executionType: ExecutionType, exceptId?: number): Promise<SerialAdmission | null> {
  if (executionType === "PARALLEL") return null;
  const active = await firstActiveIn(tx, t, workflowId, exceptId);
  if (active === null) return { state: "SUBMITTED_SUCCESS", executionType, blockedBy: null, message: null };
  if (executionType === "SERIAL_DISCARD") return { state: "STOP", executionType, blockedBy: active, message: serialMessage.discard(active) };
  return { state: "SERIAL_WAIT", executionType, blockedBy: active, message: null };
}

/** The oldest active (not ended, waiting included) instance of the workflow other than `exceptId`. */
async function firstActiveIn(db: Db, t: Tables, workflowId: number, exceptId?: number): Promise<number | null> {
  const wi = t.workflowInstances;
  const [active] = await db
    .select({ id: wi.id })
    .from(wi)
    .where(and(eq(wi.workflowId, workflowId), notInArray(wi.state, NOT_ACTIVE), exceptId === undefined ? undefined : ne(wi.id, exceptId)))
    .orderBy(asc(wi.id))
    .limit(1);
  return active?.id ?? null;
}

export function firstActive(run: Runner, workflowId: number, exceptId?: number): Promise<number | null> {
  return run.read((db) => firstActiveIn(db, run.t, workflowId, exceptId));
}

/**
 * The execution type of a stored version, read in the caller's transaction — for creators that
 * insert instances themselves (e.g. schedule fires): `admitSerial` before the insert,
 * `settleAdmission` after it, both after locking the workflow row.
 */
export async function versionExecutionType(tx: Db, t: Tables, workflowId: number, version: number): Promise<ExecutionType> {
  const wv = t.workflowVersions;
  const [row] = await tx.select({ definition: wv.definition }).from(wv).where(and(eq(wv.workflowId, workflowId), eq(wv.version, version)));
  return row?.definition.executionType ?? "PARALLEL";
}

/**
 * After the insert (or a control's re-submit), same transaction: audit a discard; SERIAL_PRIORITY
 * discards every other waiting instance — `row` is the newest request in the queue.
 *
 * A discarded waiting run of a backfill gets no end notice of its own: the master advances the
 * workflow's running backfills when the SERIAL_PRIORITY run ahead of it ends (SerialQueue.released).
 */
export async function settleAdmission(tx: Db, t: Tables, row: Row, admission: SerialAdmission, now: Date): Promise<void> {
  const audit = (id: number, reason: string) =>
    writeAudit(tx, t, SYSTEM, now, {
      action: "instance.discard",
      objectType: "workflow_instance",
      objectId: id,
      projectId: row.projectId,
      details: { reason, executionType: admission.executionType, workflowId: row.workflowId, newerInstanceId: id === row.id ? null : row.id },
    });
  if (admission.state === "STOP") return audit(row.id, SERIAL_MESSAGES.discard);
  if (admission.executionType !== "SERIAL_PRIORITY" || admission.state !== "SERIAL_WAIT") return;
  const wi = t.workflowInstances;
  const older = await tx
    .update(wi)
    .set({ state: "STOP", endTime: now, updatedAt: now, message: serialMessage.priority(row.id) })
    .where(and(eq(wi.workflowId, row.workflowId), eq(wi.state, "SERIAL_WAIT"), ne(wi.id, row.id)))
    .returning({ id: wi.id });
  for (const o of older) await audit(o.id, SERIAL_MESSAGES.priority);
}

/** Whether a workflow has a SERIAL_WAIT instance: releaseSerial's first question (prepared-reads.ts). */
const anyWaiting = hotRead("porpoise_serial_waiting", (db, arg: Arg<{ workflowId: number }>, t) =>
  db
    .select({ id: t.workflowInstances.id })
    .from(t.workflowInstances)
    .where(and(eq(t.workflowInstances.workflowId, arg("workflowId")), eq(t.workflowInstances.state, "SERIAL_WAIT")))
    .limit(1),
);

/**
 * When nothing of the workflow holds the slot any more, the oldest SERIAL_WAIT instance
 * becomes SUBMITTED_SUCCESS (DS RECOVER_SERIAL_WAIT); returns it, or null when something
 * still runs, nothing waits, or the workflow is gone. Idempotent: safe to call after every
 * end and at every master start.
 *
 * The master calls it after every end, of every workflow (a serial version's run may wait behind
 * a parallel version's), so it first asks without a lock or a transaction whether anything of the
 * workflow waits at all. It nearly never does, and the locked release was a write transaction of
 * five round trips per ended run (the no-op UPDATE of the workflow row writes a row version and
 * WAL): with 10,000 schedules on 3 masters (scripts/bench/cluster-cron.ts) those transactions
 * were most of Postgres' work, and fires ran seconds late (median 1.85 s → 54 ms without them).
 * What the unlocked read can miss: a run whose create saw the ending one still active (so it
 * queued) and committed only after this read. On SQLite it cannot happen (write transactions
 * run one at a time, so that create committed before the end or saw it). On Postgres the
 * masters' reconciliation sweep releases such a run (cluster-sweeps.ts, every lease/2: 5 s by
 * default), as a master start does.
 */
export async function releaseSerial(run: Runner, workflowId: number): Promise<Row | null> {
  const { t } = run;
  const wi = t.workflowInstances;
  const [waiting] = await run.read((db) => anyWaiting(run, db, { workflowId }));
  if (!waiting) return null;
  return run.write(async (tx) => {
    if (!(await lockWorkflow(tx, t, workflowId))) return null;
    const [running] = await tx.select({ id: wi.id }).from(wi).where(and(eq(wi.workflowId, workflowId), notInArray(wi.state, [...RUNNING_EXCLUDED]))).limit(1);
    if (running) return null;
    const [next] = await tx.select({ id: wi.id }).from(wi).where(and(eq(wi.workflowId, workflowId), eq(wi.state, "SERIAL_WAIT"))).orderBy(asc(wi.id)).limit(1);
    if (!next) return null;
    const [row] = await tx
      .update(wi)
      .set({ state: "SUBMITTED_SUCCESS", updatedAt: new Date() })
      .where(and(eq(wi.id, next.id), eq(wi.state, "SERIAL_WAIT")))
      .returning();
    return row ?? null;
  });
}

/**
 * A control submits an ended instance again (see the file comment for what each execution type
 * means). One transaction: read the instance, lock its workflow row, decide, then the guarded
 * update (expected states and epoch) — so the decision and the new state commit together. With
 * `change.command`, the command is consumed in the same transaction (not when stale: the caller
 * decides), so a command restarts an instance at most once.
 */
export function restartInstance(run: Runner, id: number, change: InstanceRestart): Promise<{ outcome: "submitted" | "queued" | "refused"; row: Row; blockedBy: number | null } | { outcome: "stale" } | { outcome: "unclaimed" }> {
  const { t } = run;
  const wi = t.workflowInstances;
  return run.write(async (tx) => {
    const [current] = await tx.select({ workflowId: wi.workflowId, version: wi.workflowVersion }).from(wi).where(eq(wi.id, id));
    if (!current || change.from.length === 0) return { outcome: "stale" as const };
    const command = change.command;
    // Consumed first, before the workflow row lock (every restart of the workflow waits for that
    // one: nothing more goes inside it), and put back should the restart turn out stale. When it
    // is not ours (consumed by an earlier try, re-opened), nothing is written.
    if (command && !(await completeCommand(tx, t, command.id, command.consumer, new Date(), null))) return { outcome: "unclaimed" as const };
    const stale = async () => {
      // This transaction holds the command's row since it consumed it: nobody else changed it meanwhile.
      if (command) await tx.update(t.commands).set({ state: "CLAIMED" }).where(eq(t.commands.id, command.id));
      return { outcome: "stale" as const };
    };
    if (!(await lockWorkflow(tx, t, current.workflowId))) return stale();
    const executionType = await versionExecutionType(tx, t, current.workflowId, current.version);
    const admission = await admitSerial(tx, t, current.workflowId, executionType, id);
    const now = new Date();
    const node = fencingNode(run.dialect, run.fence);
    const guard = and(eq(wi.id, id), inArray(wi.state, [...change.from]), sql`${wi.epoch} <= ${change.epoch}`, node === null ? undefined : leaseHeld(wi.slot, change.epoch, node));
    if (admission?.state === "STOP") {
      const [row] = await tx.update(wi).set({ message: serialMessage.refused(change.control, admission.blockedBy!), updatedAt: now }).where(guard).returning();
      if (!row) return stale();
      await writeAudit(tx, t, SYSTEM, now, {
        action: "instance.control-refused",
        objectType: "workflow_instance",
        objectId: id,
        projectId: row.projectId,
        details: { control: change.control, reason: SERIAL_MESSAGES.discard, executionType, activeInstanceId: admission.blockedBy },
      });
      return { outcome: "refused" as const, row, blockedBy: admission.blockedBy };
    }
    const waits = admission?.state === "SERIAL_WAIT";
    const set = { ...change.set, ...(waits && change.control === "rerun" ? { startTime: null } : {}) };
    const [row] = await tx
      .update(wi)
      .set({ ...set, state: waits ? "SERIAL_WAIT" : "SUBMITTED_SUCCESS", epoch: change.epoch, pendingControl: change.control, message: null, updatedAt: now })
      .where(guard)
      .returning();
    if (!row) return stale();
    // A rerun starts over: what the earlier runs did must not count for it (issue 9 item 10).
    if (change.control === "rerun") {
      await tx.update(t.taskInstances).set({ superseded: true }).where(and(eq(t.taskInstances.workflowInstanceId, id), eq(t.taskInstances.superseded, false)));
    }
    if (admission) await settleAdmission(tx, t, row, admission, now);
    return { outcome: waits ? ("queued" as const) : ("submitted" as const), row, blockedBy: admission?.blockedBy ?? null };
  });
}

/** Stop of a waiting instance: nothing runs yet, so it ends STOP at once (guarded on SERIAL_WAIT). */
export function stopWaiting(run: Runner, id: number): Promise<Row | null> {
  const wi = run.t.workflowInstances;
  return run.write(async (tx) => {
    const now = new Date();
    const [row] = await tx.update(wi).set({ state: "STOP", endTime: now, updatedAt: now }).where(and(eq(wi.id, id), eq(wi.state, "SERIAL_WAIT"))).returning();
    return row ?? null;
  });
}

/**
 * Workflows with waiting instances (restart recovery), of the given slots or all. `stranded`:
 * only those of which nothing else is active, the ones a release would let in now (the
 * reconciliation sweep; see releaseSerial for how a run can be left waiting).
 */
export function workflowsWithWaiting(run: Runner, opts: { slots?: readonly number[]; stranded?: boolean } = {}): Promise<number[]> {
  const wi = run.t.workflowInstances;
  const { slots, stranded } = opts;
  if (slots && slots.length === 0) return Promise.resolve([]);
  // Written out: an aliased table of the same name is dialect-specific in drizzle.
  const nothingActive = sql`NOT EXISTS (SELECT 1 FROM workflow_instances active WHERE active.workflow_id = ${wi.workflowId} AND active.state NOT IN (${sql.join(
    RUNNING_EXCLUDED.map((s) => sql`${s}`),
    sql`, `,
  )}))`;
  return run.read(async (db) => {
    const rows = await db
      .selectDistinct({ workflowId: wi.workflowId })
      .from(wi)
      .where(
        and(
          eq(wi.state, "SERIAL_WAIT"),
          slots ? inArray(wi.slot, [...slots]) : undefined,
          stranded ? nothingActive : undefined,
        ),
      );
    return rows.map((r) => r.workflowId);
  });
}
