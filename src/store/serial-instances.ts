// Serial execution types (SERIAL_WAIT / SERIAL_DISCARD / SERIAL_PRIORITY) as store steps.
// Every decision runs in ONE transaction that first locks the workflow definition row (the
// same no-op UPDATE instances.create takes), so "run now, wait or discard" and "who starts
// next" are serialised per workflow across every process sharing the Store: two runs
// submitted at once cannot both see "nothing active" (DESIGN.md §3.2). The queue is the
// SERIAL_WAIT rows themselves, oldest id first — nothing lives only in memory.
//
// Messages follow DolphinScheduler's ProcessServiceImpl.saveSerialProcess. Instances have no
// message column yet, so the reason of a discard is an audit row (`instance.discard`).

import { and, asc, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import type { ExecutionType } from "../core/workflow-schema.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { TERMINAL_WORKFLOW_STATES } from "./model.ts";

type Row = Tables["workflowInstances"]["$inferSelect"];

const SYSTEM = { userId: null, userName: "porpoise" };

export const SERIAL_MESSAGES = {
  discard: "stop by serial_discard strategy",
  priority: "stop by serial_priority strategy",
} as const;

/** States of an instance that holds (or is queued for) its workflow's serial slot. */
const NOT_ACTIVE = [...TERMINAL_WORKFLOW_STATES];
/** Active but not yet holding the slot. */
const RUNNING_EXCLUDED = [...TERMINAL_WORKFLOW_STATES, "SERIAL_WAIT"] as const;

export interface SerialAdmission {
  state: "SUBMITTED_SUCCESS" | "SERIAL_WAIT" | "STOP";
  executionType: ExecutionType;
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
export async function admitSerial(tx: Db, t: Tables, workflowId: number, executionType: ExecutionType): Promise<SerialAdmission | null> {
  if (executionType === "PARALLEL") return null;
  const wi = t.workflowInstances;
  const [active] = await tx.select({ id: wi.id }).from(wi).where(and(eq(wi.workflowId, workflowId), notInArray(wi.state, NOT_ACTIVE))).limit(1);
  if (!active) return { state: "SUBMITTED_SUCCESS", executionType };
  return { state: executionType === "SERIAL_DISCARD" ? "STOP" : "SERIAL_WAIT", executionType };
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

/** After the insert, same transaction: audit a discard; SERIAL_PRIORITY discards the older waiting ones. */
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
    .set({ state: "STOP", endTime: now, updatedAt: now })
    .where(and(eq(wi.workflowId, row.workflowId), eq(wi.state, "SERIAL_WAIT"), lt(wi.id, row.id)))
    .returning({ id: wi.id });
  for (const o of older) await audit(o.id, SERIAL_MESSAGES.priority);
}

/**
 * When nothing of the workflow holds the slot any more, the oldest SERIAL_WAIT instance
 * becomes SUBMITTED_SUCCESS (DS RECOVER_SERIAL_WAIT); returns it, or null when something
 * still runs, nothing waits, or the workflow is gone. Idempotent: safe to call after every
 * end and at every master start.
 */
export function releaseSerial(run: Runner, workflowId: number): Promise<Row | null> {
  const { t } = run;
  const wi = t.workflowInstances;
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

/** Stop of a waiting instance: nothing runs yet, so it ends STOP at once (guarded on SERIAL_WAIT). */
export function stopWaiting(run: Runner, id: number): Promise<Row | null> {
  const wi = run.t.workflowInstances;
  return run.write(async (tx) => {
    const now = new Date();
    const [row] = await tx.update(wi).set({ state: "STOP", endTime: now, updatedAt: now }).where(and(eq(wi.id, id), eq(wi.state, "SERIAL_WAIT"))).returning();
    return row ?? null;
  });
}

/** Workflows with waiting instances (restart recovery), of the given slots or all. */
export function workflowsWithWaiting(run: Runner, slots?: readonly number[]): Promise<number[]> {
  const wi = run.t.workflowInstances;
  if (slots && slots.length === 0) return Promise.resolve([]);
  return run.read(async (db) => {
    const rows = await db
      .selectDistinct({ workflowId: wi.workflowId })
      .from(wi)
      .where(and(eq(wi.state, "SERIAL_WAIT"), slots ? inArray(wi.slot, [...slots]) : undefined));
    return rows.map((r) => r.workflowId);
  });
}
