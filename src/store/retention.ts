// Retention (issue 11): removing finished workflow instances, with their attempts, their log
// chunks and their commands (the foreign keys cascade), in small batches.
//
//   sweep({ endedBefore, keepPerWorkflow, slots, limit, protectedWorkflows })
//       one DELETE of at most `limit` instances → the removed { id, projectId, workflowId }
//   deleteInstance(id, actor)   one instance on request, audited → the removed instance;
//       NotFoundError when gone, ConflictError naming why when it must stay
//   presence(ids)               of these instance ids, the ones still stored with their state
//       and end time (file sweeps of workers ask which attempt files they may remove)
//   dependentTargets()          (project, workflow, version) of every dependent attempt that runs now
//
// What is never removed, checked in the DELETE statement itself (so a rerun or a backfill that
// starts between a look and the delete cannot lose its instance):
// - anything not finished: only SUCCESS, FAILURE and STOP go in a sweep (PAUSE waits for a resume;
//   deleteInstance also takes PAUSE, a user's explicit choice);
// - an instance of a backfill that is still RUNNING (it counts its runs from them);
// - a sub_workflow child whose parent instance is not finished, and a parent with a child that is
//   not finished (the parent's task ends with its child);
// - an instance with a command still PENDING or CLAIMED (a rerun asked for and not yet done);
// - with lease fencing on (a cluster master), an instance of a slot this node does not hold.
// Dependent tasks read other workflows' instances: the sweeper passes the workflows that running
// dependent tasks name as `protectedWorkflows` (master/retention-sweep.ts), so their instances stay
// while such a task runs.
//
// One statement per batch, on an index (0016): Postgres takes row locks on at most `limit`
// instances and their attempts for the length of one DELETE; SQLite holds its writer lock as
// long: a batch of 100 (300 attempts, 1.2 MB of chunks) took p50 80 ms on SQLite, 45 ms on Postgres at load ~12
// (scripts/bench/retention-sweep.ts; README "Retention").

import { and, asc, desc, eq, inArray, isNull, lt, notExists, notInArray, or, type SQL, sql } from "drizzle-orm";
import { ConflictError, NotFoundError } from "../core/errors.ts";
import { TERMINAL_TASK_STATES, TERMINAL_WORKFLOW_STATES } from "../core/states.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { fencingNode, leaseHeld } from "./lease-fence.ts";
import type { Actor, CommandState } from "./store.ts";

/** What a sweep removes: finished for good. PAUSE is not (the user means to resume it). */
export const SWEPT_STATES = ["SUCCESS", "FAILURE", "STOP"] as const;

export interface RemovedInstance {
  id: number;
  projectId: number;
  workflowId: number;
}

export interface SweepQuery {
  /** Finished before this time (end time; the last update where none was recorded). null: no age rule. */
  endedBefore: Date | null;
  /** Keep this many newest finished instances of each workflow. null: no count rule. */
  keepPerWorkflow: number | null;
  /** Only these slots (a cluster master's own); undefined = every slot. */
  slots?: readonly number[];
  /** At most this many instances in this call. */
  limit: number;
  /** Workflows none of whose instances may go now (named by running dependent tasks). */
  protectedWorkflows?: readonly number[];
}

export interface StoredInstanceState {
  state: string;
  endTime: Date | null;
}

export interface RetentionRepository {
  sweep(query: SweepQuery): Promise<RemovedInstance[]>;
  deleteInstance(id: number, actor: Actor): Promise<RemovedInstance>;
  presence(ids: readonly number[]): Promise<Map<number, StoredInstanceState>>;
  dependentTargets(): Promise<{ projectId: number; workflowId: number; version: number }[]>;
}

const ACTIVE_COMMANDS: CommandState[] = ["PENDING", "CLAIMED"];

/** The guards every removal states (see the header), for the row `wi`. */
function keepGuards(db: Db, t: Tables): SQL[] {
  const wi = t.workflowInstances;
  const b = t.backfills;
  const c = t.commands;
  const ti = t.taskInstances;
  const parentTi = sql`parent_ti`;
  const parentWi = sql`parent_wi`;
  const childWi = sql`child_wi`;
  const childTi = sql`child_ti`;
  const terminal = TERMINAL_WORKFLOW_STATES.map((s) => `'${s}'`).join(", ");
  return [
    notExists(db.select({ one: sql`1` }).from(b).where(and(eq(b.id, wi.backfillId), eq(b.state, "RUNNING")))),
    notExists(db.select({ one: sql`1` }).from(c).where(and(eq(c.workflowInstanceId, wi.id), inArray(c.state, ACTIVE_COMMANDS)))),
    // A child whose parent instance still runs. Aliases by hand: drizzle has one table object per name.
    sql`NOT EXISTS (SELECT 1 FROM ${ti} ${parentTi} JOIN ${wi} ${parentWi} ON ${parentWi}.id = ${parentTi}.workflow_instance_id
          WHERE ${parentTi}.id = ${wi.parentTaskInstanceId} AND ${parentWi}.state NOT IN (${sql.raw(terminal)}))`,
    // A parent with a child that still runs. Only sub_workflow attempts have children, so the
    // lookup of children runs for those alone: as a join, SQLite scanned workflow_instances once
    // per attempt of every candidate (parent_task_instance_id is NULL on nearly every row, so its
    // statistics make the index look useless) — 1.1 s for a batch of 100 among 4,000 instances.
    sql`NOT EXISTS (SELECT 1 FROM ${ti} ${childTi} WHERE ${childTi}.workflow_instance_id = ${wi.id} AND ${childTi}.task_type = 'sub_workflow'
          AND EXISTS (SELECT 1 FROM ${wi} ${childWi} WHERE ${childWi}.parent_task_instance_id = ${childTi}.id AND ${childWi}.state NOT IN (${sql.raw(terminal)})))`,
  ];
}

function endedBeforeRule(t: Tables, before: Date): SQL {
  const wi = t.workflowInstances;
  return or(lt(wi.endTime, before), and(isNull(wi.endTime), lt(wi.updatedAt, before)))!;
}

/** Per workflow over the count: the id of its `keep`-th newest finished instance (older ones may go). */
async function countBoundaries(db: Db, t: Tables, keep: number): Promise<SQL[]> {
  const wi = t.workflowInstances;
  const finished = inArray(wi.state, [...SWEPT_STATES]);
  const over = await db
    .select({ workflowId: wi.workflowId })
    .from(wi)
    .where(finished)
    .groupBy(wi.workflowId)
    .having(sql`count(*) > ${keep}`);
  const rules: SQL[] = [];
  for (const { workflowId } of over) {
    // Global newest-first order, whatever slots this node holds: the count is per workflow.
    const [boundary] = await db
      .select({ id: wi.id })
      .from(wi)
      .where(and(eq(wi.workflowId, workflowId), finished))
      .orderBy(desc(wi.id))
      .limit(1)
      .offset(keep - 1);
    if (boundary) rules.push(and(eq(wi.workflowId, workflowId), lt(wi.id, boundary.id))!);
    if (rules.length >= 500) break; // the rest waits for the next sweep
  }
  return rules;
}

export function createRetentionRepository(run: Runner): RetentionRepository {
  const { t } = run;
  const wi = t.workflowInstances;

  const removeWhere = (tx: Db, where: SQL) =>
    tx.delete(wi).where(where).returning({ id: wi.id, projectId: wi.projectId, workflowId: wi.workflowId });

  return {
    sweep: async (query) => {
      const { endedBefore, keepPerWorkflow, slots, limit } = query;
      if (limit <= 0 || (endedBefore === null && keepPerWorkflow === null)) return [];
      if (slots && slots.length === 0) return [];
      const rules: SQL[] = [];
      if (endedBefore !== null) rules.push(endedBeforeRule(t, endedBefore));
      if (keepPerWorkflow !== null) rules.push(...(await run.read((db) => countBoundaries(db, t, keepPerWorkflow))));
      if (rules.length === 0) return [];
      return run.write(async (tx) => {
        const node = fencingNode(run.dialect, run.fence);
        const protectedIds = query.protectedWorkflows ?? [];
        const candidates = tx
          .select({ id: wi.id })
          .from(wi)
          .where(
            and(
              inArray(wi.state, [...SWEPT_STATES]),
              slots ? inArray(wi.slot, [...slots]) : undefined,
              protectedIds.length > 0 ? notInArray(wi.workflowId, [...protectedIds]) : undefined,
              or(...rules),
              ...keepGuards(tx, t),
            ),
          )
          .orderBy(asc(wi.id))
          .limit(limit);
        // The state again on the row itself: Postgres re-checks it on a row a rerun changed meanwhile.
        return removeWhere(tx, and(inArray(wi.id, candidates), inArray(wi.state, [...SWEPT_STATES]), node === null ? undefined : leaseHeld(wi.slot, null, node))!);
      });
    },

    deleteInstance: (id, actor) =>
      run.write(async (tx) => {
        const [removed] = await removeWhere(tx, and(eq(wi.id, id), inArray(wi.state, [...TERMINAL_WORKFLOW_STATES]), ...keepGuards(tx, t))!);
        if (!removed) throw await whyKept(tx, t, id);
        await writeAudit(tx, t, actor, new Date(), {
          action: "workflow-instance.delete",
          objectType: "workflow-instance",
          objectId: id,
          projectId: removed.projectId,
          details: { workflowId: removed.workflowId },
        });
        return removed;
      }),

    presence: (ids) =>
      run.read(async (db) => {
        const found = new Map<number, StoredInstanceState>();
        for (let i = 0; i < ids.length; i += 500) {
          const rows = await db.select({ id: wi.id, state: wi.state, endTime: wi.endTime, updatedAt: wi.updatedAt }).from(wi).where(inArray(wi.id, ids.slice(i, i + 500) as number[]));
          for (const r of rows) found.set(r.id, { state: r.state, endTime: r.endTime ?? (TERMINAL_WORKFLOW_STATES.includes(r.state as never) ? r.updatedAt : null) });
        }
        return found;
      }),

    dependentTargets: () =>
      run.read(async (db) => {
        const ti = t.taskInstances;
        return db
          .selectDistinct({ projectId: wi.projectId, workflowId: wi.workflowId, version: wi.workflowVersion })
          .from(ti)
          .innerJoin(wi, eq(wi.id, ti.workflowInstanceId))
          .where(and(eq(ti.taskType, "dependent"), notInArray(ti.state, [...TERMINAL_TASK_STATES])));
      }),
  };
}

/** Why deleteInstance removed nothing, read in its transaction: the first reason that applies. */
async function whyKept(tx: Db, t: Tables, id: number): Promise<Error> {
  const wi = t.workflowInstances;
  const [row] = await tx.select({ state: wi.state, backfillId: wi.backfillId }).from(wi).where(eq(wi.id, id));
  if (!row) return new NotFoundError(`workflow instance ${id} does not exist`);
  if (!TERMINAL_WORKFLOW_STATES.includes(row.state as never)) {
    return new ConflictError(`workflow instance ${id} is ${row.state}: only a finished instance (SUCCESS, FAILURE, STOP, PAUSE) can be deleted; stop it first (POST /api/v1/workflow-instances/${id}/stop)`);
  }
  if (row.backfillId !== null) {
    const [b] = await tx.select({ state: t.backfills.state }).from(t.backfills).where(eq(t.backfills.id, row.backfillId));
    if (b?.state === "RUNNING") return new ConflictError(`workflow instance ${id} belongs to backfill ${row.backfillId}, which is still RUNNING: it is kept until the backfill ends (or is stopped)`);
  }
  const c = t.commands;
  const [pending] = await tx.select({ type: c.type }).from(c).where(and(eq(c.workflowInstanceId, id), inArray(c.state, ACTIVE_COMMANDS))).limit(1);
  if (pending) return new ConflictError(`workflow instance ${id} has a ${pending.type} command waiting to be carried out: try again once it has run`);
  return new ConflictError(`workflow instance ${id} is tied to a sub_workflow parent or child that is still running: it is kept until that one ends`);
}

