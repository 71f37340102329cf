// Schedules: CRUD with audit rows, and the fire — the one place a cron fire becomes a workflow
// instance. Fires due together are one transaction (fireBatch) that locks the schedule rows
// (Postgres: FOR NO KEY UPDATE in id order, which serialises with setReleaseState, update, delete
// and a workflow going OFFLINE, which takes its schedules OFFLINE) and reads their workflows under
// FOR KEY SHARE (no delete meanwhile; serial workflows FOR NO KEY UPDATE, for admission; SQLite:
// BEGIN IMMEDIATE is exclusive), then
// inserts with ON CONFLICT (schedule_id, schedule_time) DO NOTHING: on Postgres the loser of a
// race waits for the winner's commit and inserts nothing; on SQLite writers are serial anyway.
// Either way the second caller learns "exists", never an error (docs/architecture.md §3.5).
// Fenced by the slot lease (lease-fence.ts, store.fenceWith): each fire names the lease of its
// schedule's slot; a fire this node does not hold that lease for creates nothing and moves no
// cursor ("stale"), so a master that lost the slot cannot fire, and the new owner still finds
// the fire missing and creates it — one instance per (schedule, fire time) either way.

import { and, asc, eq, isNull, lt, or, sql } from "drizzle-orm";
import { ConflictError, NotFoundError, StoreError, ValidationError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { toWorkflowInstance } from "./instances.ts";
import { returned } from "./rows.ts";
import { fencingNode } from "./lease-fence.ts";
import { advanceCursors, advanceFencedCursors, allocateInstanceIds, checkNotBefore, heldLeases, type InstanceRow, insertFires, type LockedWorkflow, lockSchedules, lockSerialWorkflows, lockWorkflowsOf, type ScheduleRow, waitUntil } from "./schedule-fire-sql.ts";
import { admitSerial, settleAdmission } from "./serial-instances.ts";
import type { FireInput, FireResult, NewSchedule, Schedule, ScheduleRepository } from "./schedule-store.ts";
import type { Dialect, FailureStrategy, Priority } from "./store.ts";

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

/**
 * One fire of a serial workflow inside the caller's transaction, after fireBatch locked its
 * schedule and workflow: serial admission counts the workflow's active instances, so these go
 * one at a time, under the workflow lock.
 */
async function fireSerial(tx: Db, t: Tables, schedule: ScheduleRow, locked: LockedWorkflow, { fireTime, slot }: FireInput): Promise<FireResult> {
  const wi = t.workflowInstances;
  const workflow = locked.row;
  const now = new Date();
  // Serial execution types decide run / wait / discard under the workflow lock.
  const admission = await admitSerial(tx, t, workflow.id, locked.executionType);
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
      scheduleId: schedule.id,
      scheduleTime: fireTime,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: [wi.scheduleId, wi.scheduleTime] })
    .returning();
  await advance(tx, t, schedule.id, fireTime);
  if (!inserted) return { outcome: "exists" };
  const row = returned(await tx.update(wi).set({ slot: slot(inserted.id) }).where(eq(wi.id, inserted.id)).returning(), "workflow instance");
  if (admission) await settleAdmission(tx, t, row, admission, now);
  return { outcome: "created", instance: toWorkflowInstance(row) };
}

/**
 * Every fire of the batch in the caller's transaction, in a fixed number of statements however
 * many fires are due together (schedule-fire-sql.ts has them; the file comment has the rules of
 * one fire): lock + read the schedules, lock + read their workflows with their execution types
 * (ascending ids), allocate instance ids (so slots go in with the rows), then ONE multi-row
 * INSERT … ON CONFLICT (schedule_id, schedule_time) DO NOTHING RETURNING for the fires of
 * PARALLEL workflows and one cursor UPDATE per distinct fire time. Fires of serial workflows go
 * one by one after them (fireSerial).
 * Measured (scripts/bench/cron-fire.ts full, 10,000 schedules, ~167 due each second, 2 cores
 * at load average 6-7 from other work): created_at − fire time was p50 104 / p99 297 ms on SQLite
 * with ~7 drizzle statements per fire; this path gives SQLite p50 9 / p99 56 ms, Postgres p50 24 /
 * p99 53 ms. CPU of fireMany for 167 fires: ~5 ms on either dialect (19 ms before on SQLite);
 * the insert itself (~2-3 ms on SQLite: FK checks and six indexes per row) is most of it.
 */
async function fireBatch(tx: Db, t: Tables, dialect: Dialect, inputs: readonly FireInput[], notBefore?: Date, node: string | null = null, leaseHeld?: (slot: number, epoch: number) => boolean): Promise<FireResult[]> {
  const results: FireResult[] = new Array(inputs.length);
  if (inputs.length === 0) return results;
  checkNotBefore(notBefore);
  if (node !== null) {
    const i = inputs.findIndex((input) => !input.lease);
    if (i >= 0) throw new ValidationError(`schedule fire ${i} (schedule ${inputs[i]!.scheduleId}) has no lease: a fenced store (fenceWith) fires only under the lease of the schedule's slot`, [{ path: `${i}.lease`, message: "required when the store is fenced" }]);
  }
  // Ascending (schedule, fire time); stable, so of two equal fires the earlier input is the one created.
  const order = inputs.map((input, i) => ({ input, i })).sort((a, b) => a.input.scheduleId - b.input.scheduleId || a.input.fireTime.getTime() - b.input.fireTime.getTime());
  const scheduleIds = [...new Set(order.map((o) => o.input.scheduleId))];
  // Independent reads issued together: Postgres pipelines them on the transaction's connection
  // (one round trip instead of three) and runs them in this order, so the schedule locks come
  // before the workflow locks as everywhere else; on SQLite they simply run one after another.
  // One statement each whatever the batch size (the ids are one parameter), so every lock of a
  // batch is taken in ascending id order.
  const [lockedSchedules, lockedWorkflows, ids, held] = await Promise.all([
    lockSchedules(tx, dialect, t, scheduleIds),
    lockWorkflowsOf(tx, dialect, t, scheduleIds),
    // One id per fire; what the batch does not insert stays unused.
    allocateInstanceIds(tx, dialect, order.length),
    // Fenced: the leases this node holds of the fires' slots. The insert checks its lease again
    // (lease-fence.ts); a lease lost in between leaves a fire uncreated and reported "exists".
    node === null ? null : heldLeases(tx, [...new Set(inputs.map((input) => input.lease!.slot))], node),
  ]);
  const schedules = new Map(lockedSchedules.map((row) => [row.id, row]));
  const workflows = new Map(lockedWorkflows.map((w) => [w.row.id, w]));
  // Serial workflows: admission needs each to itself (lockSerialWorkflows); read again under that lock.
  const serialIds = dialect === "postgres" ? lockedWorkflows.filter((w) => w.executionType !== "PARALLEL").map((w) => w.row.id) : [];
  for (const w of await lockSerialWorkflows(tx, dialect, t, serialIds)) workflows.set(w.row.id, w);

  type Due = { i: number; input: FireInput; schedule: ScheduleRow; workflow: LockedWorkflow };
  const parallel: Due[] = [];
  const serial: Due[] = [];
  const duplicates: number[] = [];
  /** Fire time → schedules whose cursor moves to it (created, existing, or skipped as OFFLINE workflow). */
  const cursors = new Map<number, number[]>();
  /** The same when fenced: each move checks the fire's lease again (advanceFencedCursors). */
  const fencedMoves: { scheduleId: number; to: Date; slot: number; epoch: number }[] = [];
  const seen = new Set<string>();
  for (const { input, i } of order) {
    const { scheduleId, fireTime } = input;
    const schedule = schedules.get(scheduleId);
    if (!schedule) {
      results[i] = { outcome: "skipped", reason: `schedule ${scheduleId} was deleted`, scheduleActive: false };
      continue;
    }
    if (schedule.releaseState !== "ONLINE") {
      results[i] = { outcome: "skipped", reason: `schedule ${scheduleId} is OFFLINE`, scheduleActive: false };
      continue;
    }
    const workflow = workflows.get(schedule.workflowId);
    if (!workflow) {
      results[i] = { outcome: "skipped", reason: `the workflow of schedule ${scheduleId} was deleted`, scheduleActive: false };
      continue;
    }
    if (held && held.get(input.lease!.slot) !== input.lease!.epoch) {
      results[i] = { outcome: "stale", reason: `node "${node}" does not hold the lease of slot ${input.lease!.slot} at epoch ${input.lease!.epoch}` };
      continue;
    }
    const key = `${scheduleId}:${fireTime.getTime()}`;
    if (seen.has(key)) {
      duplicates.push(i);
      continue;
    }
    seen.add(key);
    if (workflow.row.releaseState !== "ONLINE") {
      // DolphinScheduler skips fires of an OFFLINE workflow; they are not replayed later.
      results[i] = { outcome: "skipped", reason: `workflow "${workflow.row.name}" is OFFLINE`, scheduleActive: true };
    } else if (workflow.executionType !== "PARALLEL") {
      serial.push({ i, input, schedule, workflow });
      continue; // fireSerial moves its cursor itself
    } else {
      parallel.push({ i, input, schedule, workflow });
    }
    if (node !== null) {
      fencedMoves.push({ scheduleId, to: fireTime, slot: input.lease!.slot, epoch: input.lease!.epoch });
      continue;
    }
    const ids = cursors.get(fireTime.getTime());
    if (ids) ids.push(scheduleId);
    else cursors.set(fireTime.getTime(), [scheduleId]);
  }

  const rows = parallel.map((d, k) => ({ id: ids[k]!, slot: d.input.slot(ids[k]!), schedule: d.schedule, workflow: d.workflow.row, fireTime: d.input.fireTime, lease: d.input.lease }));
  // Everything up to the COMMIT runs ahead of the fire time: the locks, the reads, and the inserts
  // and cursor moves themselves, invisible to everyone else until the transaction commits, which it
  // does only once notBefore has come (the wait below). So nothing is created before the fire time,
  // and what the fire costs after it is the COMMIT alone: the insert of ~167 rows with their 11
  // indexes and 3 foreign-key checks each took 12-20 ms on Postgres after the fire time. A racing
  // master waits on the locks (or, on the fire's unique key, the uncommitted row) and then finds "exists".
  // created_at is the fire time when the rows go in before it (the moment they become visible).
  // The insert and the cursor moves do not depend on each other: pipelined on Postgres too.
  const writes: Promise<unknown>[] = [];
  const now = notBefore && notBefore.getTime() > Date.now() ? notBefore : new Date();
  if (parallel.length > 0) {
    writes.push(
      insertFires(tx, dialect, t, rows, now, node).then((inserted) => {
        const byKey = new Map<string, InstanceRow>();
        for (const row of inserted) byKey.set(`${row.scheduleId}:${row.scheduleTime!.getTime()}`, row);
        for (const d of parallel) {
          const row = byKey.get(`${d.input.scheduleId}:${d.input.fireTime.getTime()}`);
          results[d.i] = row ? { outcome: "created", instance: toWorkflowInstance(row) } : { outcome: "exists" };
        }
      }),
    );
  }
  if (node === null) {
    for (const [time, scheduleIdsAt] of cursors) writes.push(advanceCursors(tx, dialect, scheduleIdsAt, new Date(time)));
  } else {
    writes.push(advanceFencedCursors(tx, fencedMoves, node));
  }
  await Promise.all(writes);
  if (notBefore) {
    await waitUntil(notBefore.getTime());
    // Fenced: the inserts checked the leases before the wait; one that ended during it (a master
    // past its deadline) must not commit a fire after all — the next owner replays it from the
    // cursor. The whole batch rolls back; the scheduler retries it, and fires of slots it still
    // holds go in then (a second late), those of the lost slot are the new owner's.
    // (Serial fires go in after this, each under its own fenced statements.)
    if (held && parallel.length > 0) {
      const used = [...new Set(parallel.map((d) => d.input.lease!.slot))];
      // The coordinator's view costs no round trip (under load one took up to ~60 ms here).
      const still = leaseHeld ? null : await heldLeases(tx, used, node!);
      const lost = used.filter((slot) => (still ? still.get(slot) !== held.get(slot) : !leaseHeld!(slot, held.get(slot)!)));
      if (lost.length > 0) throw new StoreError(`schedule fires rolled back: node "${node}" lost the lease of slot${lost.length === 1 ? "" : "s"} ${lost.join(", ")} while the batch waited for its fire time`);
    }
  }
  // Serial fires read and admit against the runs that are active at the fire time: after the wait.
  for (const d of serial) results[d.i] = await fireSerial(tx, t, d.schedule, d.workflow, d.input);
  for (const i of duplicates) results[i] = { outcome: "exists" };
  return results;
}

/**
 * A schedule may be ONLINE only while its workflow is (DolphinScheduler refuses it too): locks the
 * workflow row — after the schedule row, the order a fire locks them in — and throws ConflictError
 * when the workflow is OFFLINE, rolling the schedule's change back.
 */
async function requireOnlineWorkflow(tx: Db, t: Tables, workflowId: number): Promise<void> {
  const wd = t.workflowDefinitions;
  const [row] = await tx.update(wd).set({ updatedAt: sql`${wd.updatedAt}` }).where(eq(wd.id, workflowId)).returning({ name: wd.name, releaseState: wd.releaseState });
  if (!row) throw new NotFoundError(`workflow ${workflowId} does not exist`);
  if (row.releaseState !== "ONLINE") {
    throw new ConflictError(`workflow "${row.name}" is OFFLINE: a schedule cannot be ONLINE for an OFFLINE workflow; bring the workflow ONLINE first (POST …/workflows/${row.name}/release with {"state":"ONLINE"})`);
  }
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
          if (online) await requireOnlineWorkflow(tx, t, workflowId);
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
        if (state === "ONLINE") await requireOnlineWorkflow(tx, t, row.workflowId);
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

    fire: (input) => run.write(async (tx) => (await fireBatch(tx, t, run.dialect, [input], undefined, fencingNode(run.dialect, run.fence)))[0]!),

    fireMany: (inputs, options) => run.write((tx) => fireBatch(tx, t, run.dialect, inputs, options?.notBefore, fencingNode(run.dialect, run.fence), options?.leaseHeld)),

    advanceCursor: (id, to) => run.write((tx) => advance(tx, t, id, to)),

    advanceCursors: (ids, to) =>
      ids.length === 0 ? Promise.resolve() : run.write(async (tx) => {
        await advanceCursors(tx, run.dialect, ids, to);
      }),
  };
}
