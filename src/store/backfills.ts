// Backfills (see backfill-store.ts). `advance` is the only writer of progress: it locks the
// backfill row (a no-op UPDATE, as schedules.ts does), recounts from the instances themselves
// (so a lost end notice costs nothing: the next advance sees it), and creates the next
// instances in the same transaction — two masters advancing at once cannot double-create.
//
// How a run's end counts (DolphinScheduler's complement data goes on only after a success):
// - SUCCESS: succeeded. FAILURE: failed; a serial backfill with onFailure "stop" creates nothing
//   more and ends FAILURE.
// - STOP (a user stopped the run, or a serial execution type discarded it — its `message` says
//   which): the user's stop, not a failure. A serial backfill creates nothing more and ends
//   STOPPED; a parallel one goes on and ends STOPPED unless something failed.
// - PAUSE: not an end for the backfill. A paused run still holds its place (a serial backfill
//   waits for it): resumed or rerun, it runs on and its end counts as above.
// Its runs go through the workflow's serial execution type like every other run (DS complement
// commands pass saveSerialProcess too): under SERIAL_WAIT a run waits while another run of the
// workflow is active, under SERIAL_DISCARD it is discarded (STOP, see above).

import { and, asc, desc, eq, sql } from "drizzle-orm";
import { NotFoundError } from "../core/errors.ts";
import { TERMINAL_WORKFLOW_STATES } from "../core/states.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { toWorkflowInstance } from "./instances.ts";
import { admitSerial, lockWorkflow, settleAdmission, versionExecutionType } from "./serial-instances.ts";
import { returned } from "./rows.ts";
import type { Backfill, BackfillRepository } from "./backfill-store.ts";
import type { FailureStrategy, Priority, WorkflowInstance } from "./run-store.ts";

type Row = Tables["backfills"]["$inferSelect"];
/** Ends as the backfill counts them: PAUSE is not one (the run waits for the user). */
const ENDED: readonly string[] = TERMINAL_WORKFLOW_STATES.filter((s) => s !== "PAUSE");

function toBackfill(row: Row): Backfill {
  return {
    ...row,
    failureStrategy: row.failureStrategy as FailureStrategy,
    priority: row.priority as Priority,
    plan: row.plan.map((s) => new Date(s)),
  };
}

async function instancesOf(db: Db, t: Tables, id: number) {
  const wi = t.workflowInstances;
  return db.select({ id: wi.id, state: wi.state, scheduleTime: wi.scheduleTime }).from(wi).where(eq(wi.backfillId, id)).orderBy(asc(wi.id));
}

async function advanceIn(tx: Db, t: Tables, id: number, slot: (id: number) => number): Promise<WorkflowInstance[]> {
  const b = t.backfills;
  const [row] = await tx.update(b).set({ updatedAt: sql`${b.updatedAt}` }).where(eq(b.id, id)).returning();
  if (!row || row.state !== "RUNNING") return [];
  const created: WorkflowInstance[] = [];
  // A run discarded at creation (SERIAL_DISCARD) ends at once and no end notice follows: count again.
  for (;;) {
    const { state, counts, room } = progress(row, await instancesOf(tx, t, id));
    const toCreate = Math.max(0, Math.min(room, row.total - row.created));
    const batch = toCreate > 0 ? await createRuns(tx, t, row, toCreate, slot) : [];
    row.created += batch.length;
    created.push(...batch);
    if (batch.length > 0 && batch.some((i) => ENDED.includes(i.state))) continue;
    const final = state === "RUNNING" && row.created === row.total && counts.active === 0 && batch.length === 0 ? finalState(counts) : state;
    const missing = toCreate > 0 && batch.length === 0; // the workflow is gone
    await tx
      .update(b)
      .set({ state: missing ? "FAILURE" : final, created: row.created, succeeded: counts.succeeded, failed: counts.failed, updatedAt: new Date() })
      .where(eq(b.id, id));
    return created;
  }
}

interface Counts {
  succeeded: number;
  failed: number;
  stopped: number;
  active: number;
}

function finalState(c: Counts): Row["state"] {
  return c.failed > 0 ? "FAILURE" : c.stopped > 0 ? "STOPPED" : "SUCCESS";
}

/** What the runs so far mean for the backfill: its state, the counts, and how many runs may start now. */
function progress(row: Row, runs: { state: string }[]): { state: Row["state"]; counts: Counts; room: number } {
  const ended = runs.filter((r) => ENDED.includes(r.state));
  const succeeded = ended.filter((r) => r.state === "SUCCESS").length;
  const stopped = ended.filter((r) => r.state === "STOP").length;
  const counts = { succeeded, stopped, failed: ended.length - succeeded - stopped, active: runs.length - ended.length };
  let room = row.runMode === "serial" ? 1 - counts.active : row.maxParallelism - counts.active;
  let state: Row["state"] = "RUNNING";
  // Serial: a failed run (with onFailure stop) or a stopped one ends the backfill; nothing after it is created.
  const halted = row.runMode === "serial" && ((row.onFailure === "stop" && counts.failed > 0) || counts.stopped > 0);
  if (halted) {
    room = 0;
    if (counts.active === 0) state = finalState(counts);
  }
  return { state, counts, room };
}

/** The next `n` planned runs, each admitted by the workflow's execution type (under its row lock); [] when the workflow is gone. */
async function createRuns(tx: Db, t: Tables, row: Row, n: number, slot: (id: number) => number): Promise<WorkflowInstance[]> {
  const wi = t.workflowInstances;
  if (!(await lockWorkflow(tx, t, row.workflowId))) return [];
  const [workflow] = await tx.select().from(t.workflowDefinitions).where(eq(t.workflowDefinitions.id, row.workflowId));
  if (!workflow) return [];
  const executionType = await versionExecutionType(tx, t, workflow.id, workflow.currentVersion);
  // The zone the plan was made in: its schedule's (read as the run is created), else UTC.
  const [schedule] = row.scheduleId === null ? [] : await tx.select({ timezone: t.schedules.timezone }).from(t.schedules).where(eq(t.schedules.id, row.scheduleId));
  const created: WorkflowInstance[] = [];
  for (let i = 0; i < n; i++) {
    const now = new Date();
    const admission = await admitSerial(tx, t, workflow.id, executionType);
    const [inserted] = await tx
      .insert(wi)
      .values({
        projectId: row.projectId,
        workflowId: row.workflowId,
        workflowVersion: workflow.currentVersion,
        state: admission?.state ?? "SUBMITTED_SUCCESS",
        endTime: admission?.state === "STOP" ? now : null,
        message: admission?.message ?? null,
        timezone: schedule?.timezone ?? "UTC",
        runType: "COMPLEMENT_DATA",
        slot: 0,
        epoch: 0,
        priority: row.priority,
        workerGroup: row.workerGroup,
        failureStrategy: row.failureStrategy,
        params: row.params,
        startTasks: null,
        dependType: null,
        dryRun: false,
        scheduleId: null,
        scheduleTime: new Date(row.plan[row.created + i]!),
        backfillId: row.id,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    const inst = returned(await tx.update(wi).set({ slot: slot(inserted!.id) }).where(eq(wi.id, inserted!.id)).returning(), "workflow instance");
    if (admission) await settleAdmission(tx, t, inst, admission, now);
    created.push(toWorkflowInstance(inst));
  }
  return created;
}

export function createBackfillRepository(run: Runner): BackfillRepository {
  const { t } = run;
  const b = t.backfills;
  return {
    create: (input, actor) =>
      run.write(async (tx) => {
        const [row] = await tx
          .insert(b)
          .values({
            ...input,
            plan: input.plan.map((d) => d.toISOString()),
            state: "RUNNING",
            total: input.plan.length,
            createdBy: actor.userId,
          })
          .returning();
        const created = returned([row!], "backfill");
        const details = { workflowId: created.workflowId, runMode: created.runMode, total: created.total, first: created.plan[0], last: created.plan.at(-1) };
        await writeAudit(tx, t, actor, created.createdAt, { action: "backfill.create", objectType: "backfill", objectId: created.id, projectId: created.projectId, details });
        return toBackfill(created);
      }),
    get: (id) => run.read(async (db) => {
      const [row] = await db.select().from(b).where(eq(b.id, id));
      return row ? toBackfill(row) : null;
    }),
    listForProject: (projectId) => run.read(async (db) => (await db.select().from(b).where(eq(b.projectId, projectId)).orderBy(desc(b.id))).map(toBackfill)),
    runs: (id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(b).where(eq(b.id, id));
        if (!row) throw new NotFoundError(`backfill ${id} does not exist`);
        const byTime = new Map((await instancesOf(db, t, id)).map((r) => [r.scheduleTime?.getTime(), r]));
        // Runs are created in plan order: a planned time before `created` without an instance had one
        // that retention (or DELETE /workflow-instances/:id) removed after the backfill ended.
        return row.plan.map((iso, i) => {
          const r = byTime.get(new Date(iso).getTime());
          return { scheduleTime: new Date(iso), instanceId: r?.id ?? null, state: r?.state ?? (i < row.created ? "REMOVED" : "NOT_STARTED") };
        });
      }),
    advance: (id, slot) => run.write((tx) => advanceIn(tx, t, id, slot)),
    stop: (id, actor) =>
      run.write(async (tx) => {
        const [row] = await tx.update(b).set({ updatedAt: new Date() }).where(eq(b.id, id)).returning();
        if (!row) throw new NotFoundError(`backfill ${id} does not exist`);
        const [stopped] = row.state === "RUNNING" ? await tx.update(b).set({ state: "STOPPED" }).where(eq(b.id, id)).returning() : [row];
        if (row.state === "RUNNING") await writeAudit(tx, t, actor, new Date(), { action: "backfill.stop", objectType: "backfill", objectId: id, projectId: row.projectId, details: { created: row.created, total: row.total } });
        const active = (await instancesOf(tx, t, id)).filter((r) => !ENDED.includes(r.state)).map((r) => r.id);
        return { backfill: toBackfill(stopped!), active };
      }),
    listRunning: (workflowId) =>
      run.read(async (db) =>
        (await db.select({ id: b.id }).from(b).where(and(eq(b.state, "RUNNING"), workflowId === undefined ? undefined : eq(b.workflowId, workflowId))).orderBy(asc(b.id))).map((r) => r.id),
      ),
  };
}
