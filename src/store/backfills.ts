// Backfills (see backfill-store.ts). `advance` is the only writer of progress: it locks the
// backfill row (a no-op UPDATE, as schedules.ts does), recounts from the instances themselves
// (so a lost end notice costs nothing: the next advance sees it), and creates the next
// instances in the same transaction — two masters advancing at once cannot double-create.

import { asc, desc, eq, sql } from "drizzle-orm";
import { NotFoundError } from "../core/errors.ts";
import { TERMINAL_WORKFLOW_STATES } from "../core/states.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { toWorkflowInstance } from "./instances.ts";
import { returned } from "./rows.ts";
import type { Backfill, BackfillRepository } from "./backfill-store.ts";
import type { FailureStrategy, Priority, WorkflowInstance } from "./run-store.ts";

type Row = Tables["backfills"]["$inferSelect"];
const ENDED: readonly string[] = TERMINAL_WORKFLOW_STATES;

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
  const wi = t.workflowInstances;
  const [row] = await tx.update(b).set({ updatedAt: sql`${b.updatedAt}` }).where(eq(b.id, id)).returning();
  if (!row || row.state !== "RUNNING") return [];
  const runs = await instancesOf(tx, t, id);
  const ended = runs.filter((r) => ENDED.includes(r.state));
  const succeeded = ended.filter((r) => r.state === "SUCCESS").length;
  const failed = ended.length - succeeded;
  const active = runs.length - ended.length;
  let state: Row["state"] = "RUNNING";
  let room = row.runMode === "serial" ? 1 - active : row.maxParallelism - active;
  // Serial + stop: a failed run ends the backfill; nothing after it is created (DS complement data).
  if (row.runMode === "serial" && row.onFailure === "stop" && failed > 0) {
    room = 0;
    if (active === 0) state = "FAILURE";
  }
  const toCreate = Math.max(0, Math.min(room, row.total - row.created));
  const created: WorkflowInstance[] = [];
  if (toCreate > 0) {
    const [workflow] = await tx.select().from(t.workflowDefinitions).where(eq(t.workflowDefinitions.id, row.workflowId));
    if (!workflow) state = "FAILURE";
    else {
      const now = new Date();
      for (let i = 0; i < toCreate; i++) {
        const [inserted] = await tx
          .insert(wi)
          .values({
            projectId: row.projectId,
            workflowId: row.workflowId,
            workflowVersion: workflow.currentVersion,
            state: "SUBMITTED_SUCCESS",
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
        created.push(toWorkflowInstance(inst));
      }
    }
  }
  const createdTotal = row.created + created.length;
  if (state === "RUNNING" && createdTotal === row.total && active === 0 && created.length === 0) state = failed > 0 ? "FAILURE" : "SUCCESS";
  await tx.update(b).set({ state, created: createdTotal, succeeded, failed, updatedAt: new Date() }).where(eq(b.id, id));
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
        return row.plan.map((iso) => {
          const r = byTime.get(new Date(iso).getTime());
          return { scheduleTime: new Date(iso), instanceId: r?.id ?? null, state: r?.state ?? "NOT_STARTED" };
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
    listRunning: () => run.read(async (db) => (await db.select({ id: b.id }).from(b).where(eq(b.state, "RUNNING")).orderBy(asc(b.id))).map((r) => r.id)),
  };
}
