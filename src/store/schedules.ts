// Schedules: CRUD with audit rows, and the fire — the one place a cron fire becomes a workflow
// instance. A fire is one transaction that locks the schedule row and the workflow row (the
// same no-op UPDATE lock instances.ts uses, so it serialises with OFFLINE and delete), then
// inserts with ON CONFLICT (schedule_id, schedule_time) DO NOTHING: on Postgres the loser of a
// race waits for the winner's commit and inserts nothing; on SQLite writers are serial anyway.
// Either way the second caller learns "exists", never an error (DESIGN.md §3.5).

import { and, asc, eq, isNull, lt, or, sql } from "drizzle-orm";
import { NotFoundError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { toWorkflowInstance } from "./instances.ts";
import { returned } from "./rows.ts";
import { admitSerial, settleAdmission, versionExecutionType } from "./serial-instances.ts";
import type { FireInput, FireResult, NewSchedule, Schedule, ScheduleRepository } from "./schedule-store.ts";
import type { FailureStrategy, Priority } from "./store.ts";

type Row = Tables["schedules"]["$inferSelect"];

function toSchedule(row: Row): Schedule {
  return {
    id: row.id,
    projectId: row.projectId,
    workflowId: row.workflowId,
    cron: row.cron,
    timezone: row.timezone,
    startTime: row.startTime,
    endTime: row.endTime,
    releaseState: row.releaseState,
    failureStrategy: row.failureStrategy as FailureStrategy,
    priority: row.priority as Priority,
    workerGroup: row.workerGroup,
    params: row.params,
    catchup: row.catchup,
    catchupMax: row.catchupMax,
    lastFireTime: row.lastFireTime,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function auditDetails(row: Row, changed?: string[]) {
  return { workflowId: row.workflowId, cron: row.cron, timezone: row.timezone, releaseState: row.releaseState, catchup: row.catchup, ...(changed ? { changed } : {}) };
}

/** Moves the cursor forward only; a fire older than the cursor leaves it as it is. */
async function advance(tx: Db, t: Tables, id: number, to: Date): Promise<void> {
  const s = t.schedules;
  await tx
    .update(s)
    .set({ lastFireTime: to })
    .where(and(eq(s.id, id), or(isNull(s.lastFireTime), lt(s.lastFireTime, to))));
}

type LockedWorkflow = { row: Tables["workflowDefinitions"]["$inferSelect"]; executionType: Awaited<ReturnType<typeof versionExecutionType>> };

/**
 * One fire inside the caller's transaction (see the file comment). `locked` remembers the
 * workflows this transaction has locked already: the lock holds until commit, so their row and
 * execution type cannot change in between and a batch reads them once.
 */
async function fireOne(tx: Db, t: Tables, { scheduleId, fireTime, slot }: FireInput, locked = new Map<number, LockedWorkflow | null>()): Promise<FireResult> {
  const s = t.schedules;
  const wd = t.workflowDefinitions;
  const wi = t.workflowInstances;
  const [schedule] = await tx.update(s).set({ updatedAt: sql`${s.updatedAt}` }).where(eq(s.id, scheduleId)).returning();
  if (!schedule) return { outcome: "skipped", reason: `schedule ${scheduleId} was deleted`, scheduleActive: false };
  if (schedule.releaseState !== "ONLINE") return { outcome: "skipped", reason: `schedule ${scheduleId} is OFFLINE`, scheduleActive: false };
  if (!locked.has(schedule.workflowId)) {
    const [row] = await tx.update(wd).set({ updatedAt: sql`${wd.updatedAt}` }).where(eq(wd.id, schedule.workflowId)).returning();
    locked.set(schedule.workflowId, row ? { row, executionType: await versionExecutionType(tx, t, row.id, row.currentVersion) } : null);
  }
  const lockedWorkflow = locked.get(schedule.workflowId);
  const workflow = lockedWorkflow?.row;
  if (!workflow) return { outcome: "skipped", reason: `the workflow of schedule ${scheduleId} was deleted`, scheduleActive: false };
  if (workflow.releaseState !== "ONLINE") {
    // DolphinScheduler skips fires of an OFFLINE workflow; they are not replayed later.
    await advance(tx, t, scheduleId, fireTime);
    return { outcome: "skipped", reason: `workflow "${workflow.name}" is OFFLINE`, scheduleActive: true };
  }
  const now = new Date();
  // Serial execution types decide run / wait / discard under the workflow lock taken above.
  const admission = await admitSerial(tx, t, workflow.id, lockedWorkflow!.executionType);
  const [inserted] = await tx
    .insert(wi)
    .values({
      projectId: workflow.projectId,
      workflowId: workflow.id,
      workflowVersion: workflow.currentVersion,
      state: admission?.state ?? "SUBMITTED_SUCCESS",
      endTime: admission?.state === "STOP" ? now : null,
      message: admission?.message ?? null,
      timezone: schedule.timezone,
      runType: "SCHEDULER",
      slot: 0,
      epoch: 0,
      priority: schedule.priority,
      workerGroup: schedule.workerGroup,
      failureStrategy: schedule.failureStrategy,
      params: schedule.params,
      startTasks: null,
      dependType: null,
      dryRun: false,
      scheduleId,
      scheduleTime: fireTime,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: [wi.scheduleId, wi.scheduleTime] })
    .returning();
  await advance(tx, t, scheduleId, fireTime);
  if (!inserted) return { outcome: "exists" };
  const row = returned(await tx.update(wi).set({ slot: slot(inserted.id) }).where(eq(wi.id, inserted.id)).returning(), "workflow instance");
  if (admission) await settleAdmission(tx, t, row, admission, now);
  return { outcome: "created", instance: toWorkflowInstance(row) };
}

export function createScheduleRepository(run: Runner): ScheduleRepository {
  const { t } = run;
  const s = t.schedules;
  const missing = (id: number) => new NotFoundError(`schedule ${id} does not exist`);

  return {
    create: (projectId, workflowId, input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const online = (input.releaseState ?? "OFFLINE") === "ONLINE";
          const row = returned(
            await tx
              .insert(s)
              .values({
                projectId,
                workflowId,
                cron: input.cron,
                timezone: input.timezone ?? "UTC",
                startTime: input.startTime ?? null,
                endTime: input.endTime ?? null,
                releaseState: input.releaseState ?? "OFFLINE",
                failureStrategy: input.failureStrategy ?? "END",
                priority: input.priority ?? "MEDIUM",
                workerGroup: input.workerGroup ?? "default",
                params: input.params ?? {},
                catchup: input.catchup ?? "none",
                catchupMax: input.catchupMax ?? 100,
                // A new schedule has missed nothing: it fires from now on.
                lastFireTime: online ? now : null,
                createdBy: actor.userId,
                createdAt: now,
                updatedAt: now,
              })
              .returning(),
            "schedule",
          );
          await writeAudit(tx, t, actor, now, { action: "schedule.create", objectType: "schedule", objectId: row.id, projectId, details: auditDetails(row) });
          return toSchedule(row);
        },
        (v) => (v.kind === "foreign_key" ? new NotFoundError(`workflow ${workflowId} does not exist in project ${projectId}`) : undefined),
      ),

    get: (id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(s).where(eq(s.id, id));
        return row ? toSchedule(row) : null;
      }),

    listForWorkflow: (workflowId, page) =>
      run.read(async (db) => {
        const where = eq(s.workflowId, workflowId);
        const rows = await db.select().from(s).where(where).orderBy(asc(s.id)).limit(page.limit).offset(page.offset);
        return { items: rows.map(toSchedule), total: await db.$count(s, where) };
      }),

    listOnline: () =>
      run.read(async (db) => {
        const rows = await db.select().from(s).where(eq(s.releaseState, "ONLINE")).orderBy(asc(s.id));
        return rows.map(toSchedule);
      }),

    update: (id, patch, actor) =>
      run.write(async (tx) => {
        const now = new Date();
        const [row] = await tx
          .update(s)
          .set({
            cron: patch.cron,
            timezone: patch.timezone,
            startTime: patch.startTime,
            endTime: patch.endTime,
            failureStrategy: patch.failureStrategy,
            priority: patch.priority,
            workerGroup: patch.workerGroup,
            params: patch.params,
            catchup: patch.catchup,
            catchupMax: patch.catchupMax,
            updatedAt: now,
          })
          .where(eq(s.id, id))
          .returning();
        if (!row) throw missing(id);
        const changed = Object.keys(patch).filter((k) => patch[k as keyof NewSchedule] !== undefined);
        await writeAudit(tx, t, actor, now, { action: "schedule.update", objectType: "schedule", objectId: id, projectId: row.projectId, details: auditDetails(row, changed) });
        return toSchedule(row);
      }),

    setReleaseState: (id, state, actor, at) =>
      run.write(async (tx) => {
        const now = at ?? new Date();
        const [before] = await tx.select().from(s).where(eq(s.id, id));
        if (!before) throw missing(id);
        const cursor = state === "ONLINE" && before.releaseState !== "ONLINE" && (before.lastFireTime === null || before.lastFireTime < now) ? now : before.lastFireTime;
        const [row] = await tx.update(s).set({ releaseState: state, lastFireTime: cursor, updatedAt: now }).where(eq(s.id, id)).returning();
        if (!row) throw missing(id);
        await writeAudit(tx, t, actor, now, {
          action: state === "ONLINE" ? "schedule.online" : "schedule.offline",
          objectType: "schedule",
          objectId: id,
          projectId: row.projectId,
          details: auditDetails(row),
        });
        return toSchedule(row);
      }),

    delete: (id, actor) =>
      run.write(async (tx) => {
        const [row] = await tx.delete(s).where(eq(s.id, id)).returning();
        if (!row) throw missing(id);
        await writeAudit(tx, t, actor, new Date(), { action: "schedule.delete", objectType: "schedule", objectId: id, projectId: row.projectId, details: auditDetails(row) });
      }),

    fire: (input) => run.write((tx) => fireOne(tx, t, input)),

    fireMany: (inputs) =>
      run.write(async (tx) => {
        // Ascending schedule ids: concurrent batches take the schedule locks in one order.
        const order = inputs.map((input, i) => ({ input, i })).sort((a, b) => a.input.scheduleId - b.input.scheduleId || a.input.fireTime.getTime() - b.input.fireTime.getTime());
        const results: FireResult[] = new Array(inputs.length);
        const locked = new Map<number, LockedWorkflow | null>();
        for (const { input, i } of order) results[i] = await fireOne(tx, t, input, locked);
        return results;
      }),

    advanceCursor: (id, to) => run.write((tx) => advance(tx, t, id, to)),
  };
}
