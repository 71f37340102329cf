// Workflow instances. Creation locks the workflow definition row first (the same no-op UPDATE
// lock workflows.ts uses), so it serialises with taking the workflow OFFLINE and with the
// guarded delete: an instance is created only for a workflow that is ONLINE at commit time,
// and a delete never misses an instance created meanwhile. Every later change is a fenced
// transition: one UPDATE naming the expected states and the writer's epoch.

import { and, asc, desc, eq, gte, inArray, lt, notInArray, type SQL, sql } from "drizzle-orm";
import { ConflictError, NotFoundError, RequestKeyUsedError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import { writeAudit } from "./audit.ts";
import { consumeCommand } from "./commands.ts";
import { createInOneStatement, oneStatementCreate } from "./instance-create-sql.ts";
import { allocateInstanceIds, type InstanceRow } from "./schedule-fire-sql.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { TERMINAL_WORKFLOW_STATES } from "./model.ts";
import { fencingNode, leaseHeld } from "./lease-fence.ts";
import { type Arg, hotRead } from "./prepared-reads.ts";
import { inChunks, returned } from "./rows.ts";
import { type Violation, violationOf } from "./sql-errors.ts";
import type { NewWorkflowInstance } from "./run-store.ts";
import { admitSerial, firstActive, releaseSerial, restartInstance, settleAdmission, stopWaiting, workflowsWithWaiting } from "./serial-instances.ts";
import type { InstanceTransition, NamedWorkflowInstance, WorkflowInstance, WorkflowInstanceRepository } from "./store.ts";

type Row = Tables["workflowInstances"]["$inferSelect"];

export function toWorkflowInstance(row: Row): WorkflowInstance {
  return {
    id: row.id,
    projectId: row.projectId,
    workflowId: row.workflowId,
    workflowVersion: row.workflowVersion,
    state: row.state,
    runType: row.runType,
    slot: row.slot,
    epoch: row.epoch,
    priority: row.priority,
    workerGroup: row.workerGroup,
    failureStrategy: row.failureStrategy,
    params: row.params,
    startTasks: row.startTasks,
    dependType: row.dependType,
    runTimes: row.runTimes,
    scheduleId: row.scheduleId,
    scheduleTime: row.scheduleTime,
    backfillId: row.backfillId,
    commandId: row.commandId,
    parentTaskInstanceId: row.parentTaskInstanceId,
    dryRun: row.dryRun,
    host: row.host,
    startTime: row.startTime,
    endTime: row.endTime,
    timezone: row.timezone,
    message: row.message,
    pendingControl: row.pendingControl ?? null,
    executorId: row.executorId ?? null,
    depth: row.depth,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toNamedInstance({ instance, workflowName }: { instance: Row; workflowName: string }): NamedWorkflowInstance {
  return { ...toWorkflowInstance(instance), workflowName };
}

/**
 * The fenced transition inside the caller's transaction; the changed row or null. With `node`
 * (lease fencing on, lease-fence.ts) also only while `node` holds the lease of the instance's
 * slot at the transition's epoch.
 */
export async function transitionInstance(tx: Db, t: Tables, id: number, change: InstanceTransition, now: Date, node: string | null = null): Promise<Row | null> {
  const wi = t.workflowInstances;
  if (change.from.length === 0) return null;
  const [row] = await tx
    .update(wi)
    .set({ ...change.set, state: change.to, epoch: change.epoch, updatedAt: now })
    .where(and(eq(wi.id, id), inArray(wi.state, [...change.from]), sql`${wi.epoch} <= ${change.epoch}`, node === null ? undefined : leaseHeld(wi.slot, change.epoch, node)))
    .returning();
  return row ?? null;
}

/** Thrown by create when a child's parent no longer runs (stopping, pausing, ended): `parentState` says which. */
export class ParentNotRunningError extends ConflictError {
  constructor(
    readonly parentInstanceId: number,
    readonly parentState: string,
  ) {
    super(`parent workflow instance ${parentInstanceId} is ${parentState}: it starts no new sub_workflow children`);
  }
}

/**
 * In the child's create transaction: the parent attempt still RUNNING_EXECUTION and its instance
 * RUNNING_EXECUTION. Checked here, not by the master beforehand, so a stop that lands between the
 * master's look and the INSERT cannot let one more child through (issue 9: a stopped root whose
 * recursive chain kept growing).
 */
async function assertParentRunning(tx: Db, t: Tables, parentTaskInstanceId: number, node: string | null): Promise<void> {
  const ti = t.taskInstances;
  const wi = t.workflowInstances;
  const [parent] = await tx
    .select({ taskState: ti.state, instanceId: wi.id, instanceState: wi.state })
    .from(ti)
    .innerJoin(wi, eq(wi.id, ti.workflowInstanceId))
    .where(eq(ti.id, parentTaskInstanceId));
  if (!parent) throw new NotFoundError(`parent task instance ${parentTaskInstanceId} does not exist`);
  if (parent.instanceState !== "RUNNING_EXECUTION") throw new ParentNotRunningError(parent.instanceId, parent.instanceState);
  if (parent.taskState !== "RUNNING_EXECUTION") throw new ParentNotRunningError(parent.instanceId, `running, but its task instance ${parentTaskInstanceId} is ${parent.taskState}`);
  if (node === null) return;
  // Fenced (lease-fence.ts): the master that drives the parent starts its children, while it holds the parent's slot.
  const [held] = await tx.select({ id: wi.id, slot: wi.slot }).from(wi).where(and(eq(wi.id, parent.instanceId), leaseHeld(wi.slot, wi.epoch, node)));
  if (!held) throw new LeaseNotHeldError(parent.instanceId, node);
}

/** A fenced write refused because its node does not hold the lease of the instance's slot (lease-fence.ts). */
export class LeaseNotHeldError extends ConflictError {
  constructor(
    readonly workflowInstanceId: number,
    readonly node: string,
  ) {
    super(`node "${node}" does not hold the slot lease of workflow instance ${workflowInstanceId} (expired, taken over, or at another epoch): the write was refused`);
  }
}

/** The create's unique violation on (project, request key), as RequestKeyUsedError; null for any other. */
function requestKeyUsed(input: NewWorkflowInstance, v: Violation | null): RequestKeyUsedError | null {
  if (input.requestKey == null || v?.kind !== "unique" || !v.constraint.includes("request_key")) return null;
  return new RequestKeyUsedError(input.requestKey);
}

export function createInstanceRepository(run: Runner, log: Logger = silentLogger): WorkflowInstanceRepository {
  const { t } = run;
  const wi = t.workflowInstances;
  const wd = t.workflowDefinitions;
  const wv = t.workflowVersions;
  // Instances cascade away with their workflow, so the inner join never drops one.
  const named = (db: Db) => db.select({ instance: wi, workflowName: wd.name }).from(wi).innerJoin(wd, eq(wd.id, wi.workflowId));
  /** get(): a master reads every run it loads (prepared-reads.ts). */
  const namedById = hotRead("porpoise_instance_get", (db, arg: Arg<{ id: number }>) => named(db).where(eq(wi.id, arg("id"))));

  // Set once porpoise_slot_of_instance (migration 0019) gave a slot slotOfInstance does not: from
  // then on this process draws the id first and computes the slot itself (one round trip more).
  let slotFunctionDisagreed = false;
  /**
   * The row went in with the database's slot and is committed: the run exists and its id is the
   * caller's answer, so throwing now would make a client that retries without an Idempotency-Key
   * create it twice. The slot is put right instead (no master drives a run before its wake, which
   * the caller sends after this returns; a master's sweep that loaded it under the wrong slot meanwhile
   * is fenced out of it by the slot lease), and said loudly.
   */
  const settleSlot = async (db: Db, row: InstanceRow, slot: number): Promise<InstanceRow> => {
    slotFunctionDisagreed = true;
    log.error(`porpoise_slot_of_instance put workflow instance ${row.id} in slot ${row.slot}, slotOfInstance says ${slot}: the two must agree (migration 0019); moved the run to slot ${slot}, and this process computes slots itself from now on`);
    await db.update(wi).set({ slot }).where(eq(wi.id, row.id));
    return { ...row, slot };
  };

  return {
    create: async (input) => {
      const slotOf = input.slot;
      if (run.raw.dialect === "postgres" && typeof slotOf === "function" && oneStatementCreate(input)) {
        const { raw } = run;
        const row = await run
          .read(async (db) => {
            if (input.slotCount !== undefined && !slotFunctionDisagreed) {
              const row = await createInOneStatement(db, raw.clientOf(db), t, input, { slotCount: input.slotCount }, new Date());
              if (row && row.slot !== slotOf(row.id)) return settleSlot(db, row, slotOf(row.id));
              return row;
            }
            const [id] = await allocateInstanceIds(db, "postgres", 1);
            return createInOneStatement(db, raw.clientOf(db), t, input, { id: id!, slot: slotOf(id!) }, new Date());
          })
          .catch((err: unknown) => {
            throw requestKeyUsed(input, violationOf(err) ?? violationOf((err as { cause?: unknown }).cause)) ?? err;
          });
        if (row) return toWorkflowInstance(row);
        // Gone, not ONLINE, or no such version: the transaction says which (or creates it, if that changed meanwhile).
      }
      return run.write(
        async (tx) => {
          // The id is drawn with the lock (pipelined on Postgres) when the slot is a function of it,
          // so the row goes in with its slot: no UPDATE of the slot after the INSERT, one round
          // trip fewer. An id drawn for a run that is then refused is a gap in the sequence.
          const [[workflow], ids] = await Promise.all([
            tx
              .update(wd)
              .set({ updatedAt: sql`${wd.updatedAt}` })
              .where(eq(wd.id, input.workflowId))
              .returning(),
            typeof input.slot === "function" ? allocateInstanceIds(tx, run.dialect, 1) : Promise.resolve(null),
          ]);
          if (!workflow) throw new NotFoundError(`workflow ${input.workflowId} does not exist`);
          if (workflow.releaseState !== "ONLINE") {
            throw new ConflictError(`workflow "${workflow.name}" is ${workflow.releaseState}: bring it ONLINE to run it`);
          }
          const version = input.version ?? workflow.currentVersion;
          if (input.version !== undefined) {
            const [stored] = await tx.select({ v: wv.version }).from(wv).where(and(eq(wv.workflowId, workflow.id), eq(wv.version, version)));
            if (!stored) {
              throw new NotFoundError(`workflow "${workflow.name}" has no version ${version} (its versions are 1 to ${workflow.latestVersion})`);
            }
          }
          const now = new Date();
          if (input.consumeCommand) {
            const { id, consumer } = input.consumeCommand;
            if (!(await consumeCommand(tx, t, id, consumer, now))) {
              throw new ConflictError(`command ${id} was consumed already (or does not exist): it starts no second instance`);
            }
          }
          if (input.parentTaskInstanceId != null) await assertParentRunning(tx, t, input.parentTaskInstanceId, fencingNode(run.dialect, run.fence));
          const admission = input.executionType ? await admitSerial(tx, t, workflow.id, input.executionType) : null;
          // The run's zone is fixed now: given, else its schedule's (read once, here), else UTC.
          let timezone = input.timezone;
          if (timezone === undefined && input.scheduleId != null) {
            const [schedule] = await tx.select({ timezone: t.schedules.timezone }).from(t.schedules).where(eq(t.schedules.id, input.scheduleId));
            timezone = schedule?.timezone;
          }
          const id = ids?.[0];
          const slot = typeof input.slot === "number" ? input.slot : input.slot(id!);
          const row = returned(
            await tx
              .insert(wi)
              .values({
                ...(id === undefined ? {} : { id }),
                projectId: workflow.projectId,
                workflowId: workflow.id,
                workflowVersion: version,
                state: admission?.state ?? input.state ?? "SUBMITTED_SUCCESS",
                endTime: admission?.state === "STOP" ? now : null,
                message: admission?.message ?? null,
                timezone: timezone ?? "UTC",
                runType: input.runType,
                slot,
                epoch: input.epoch ?? 0,
                priority: input.priority ?? "MEDIUM",
                workerGroup: input.workerGroup ?? "default",
                failureStrategy: input.failureStrategy ?? "END",
                params: input.params ?? {},
                startTasks: input.startTasks ?? null,
                dependType: input.dependType ?? null,
                dryRun: input.dryRun ?? false,
                scheduleId: input.scheduleId ?? null,
                scheduleTime: input.scheduleTime ?? null,
                commandId: input.consumeCommand?.id ?? null,
                parentTaskInstanceId: input.parentTaskInstanceId ?? null,
                executorId: input.executorId ?? null,
                depth: input.depth ?? 0,
                host: input.host ?? null,
                requestKey: input.requestKey ?? null,
                createdAt: now,
                updatedAt: now,
              })
              .returning(),
            "workflow instance",
          );
          if (admission) await settleAdmission(tx, t, row, admission, now);
          if (input.audit) {
            const { actor, action, details } = input.audit;
            await writeAudit(tx, t, actor, now, { action, objectType: "workflow-instance", objectId: row.id, projectId: row.projectId, details });
          }
          return toWorkflowInstance(row);
        },
        (v) =>
          requestKeyUsed(input, v) ??
          (v.kind === "unique"
            ? new ConflictError(`an instance for schedule ${input.scheduleId} at ${input.scheduleTime?.toISOString()} exists already`)
            : v.kind === "foreign_key"
              ? new NotFoundError(
                  `the instance refers to something that does not exist (schedule ${input.scheduleId ?? "-"}, parent task instance ${input.parentTaskInstanceId ?? "-"})`,
                )
              : undefined),
      );
    },

    transition: (id, change) => run.write(async (tx) => {
      const row = await transitionInstance(tx, t, id, change, new Date(), fencingNode(run.dialect, run.fence));
      return row ? toWorkflowInstance(row) : null;
    }),

    get: (id) =>
      run.read(async (db) => {
        const [row] = await namedById(run, db, { id });
        return row ? toNamedInstance(row) : null;
      }),

    getMany: (ids) =>
      run.read(async (db) => {
        const found: NamedWorkflowInstance[] = [];
        for (const chunk of inChunks(ids)) for (const row of await named(db).where(inArray(wi.id, chunk))) found.push(toNamedInstance(row));
        return found;
      }),

    byRequestKey: (projectId, requestKey) =>
      run.read(async (db) => {
        const [row] = await named(db).where(and(eq(wi.projectId, projectId), eq(wi.requestKey, requestKey)));
        return row ? toNamedInstance(row) : null;
      }),

    list: (query) =>
      run.read(async (db) => {
        const filters: (SQL | undefined)[] = [
          eq(wi.projectId, query.projectId),
          query.workflowId === undefined ? undefined : eq(wi.workflowId, query.workflowId),
          query.states === undefined ? undefined : query.states.length === 0 ? sql`1 = 0` : inArray(wi.state, [...query.states]),
          query.from === undefined ? undefined : gte(wi.createdAt, query.from),
          query.to === undefined ? undefined : lt(wi.createdAt, query.to),
        ];
        const where = and(...filters);
        const rows = await named(db).where(where).orderBy(desc(wi.id)).limit(query.limit).offset(query.offset);
        return { items: rows.map(toNamedInstance), total: await db.$count(wi, where) };
      }),

    listActive: (query) =>
      run.read(async (db) => {
        const slots = query?.slots;
        if (slots && slots.length === 0) return [];
        const where = and(notInArray(wi.state, [...TERMINAL_WORKFLOW_STATES]), slots ? inArray(wi.slot, [...slots]) : undefined);
        const rows = await db.select().from(wi).where(where).orderBy(asc(wi.id));
        return rows.map(toWorkflowInstance);
      }),

    releaseSerial: async (workflowId) => {
      const row = await releaseSerial(run, workflowId);
      return row ? toWorkflowInstance(row) : null;
    },
    stopWaiting: async (id) => {
      const row = await stopWaiting(run, id);
      return row ? toWorkflowInstance(row) : null;
    },
    workflowsWithWaiting: (opts) => workflowsWithWaiting(run, opts),
    restart: async (id, change) => {
      const r = await restartInstance(run, id, change);
      if (r.outcome === "stale" || r.outcome === "unclaimed") return r;
      const instance = toWorkflowInstance(r.row);
      if (r.outcome === "submitted") return { outcome: "submitted", instance };
      return { outcome: r.outcome, instance, blockedBy: r.blockedBy! };
    },
    firstActive: (workflowId, exceptId) => firstActive(run, workflowId, exceptId),
    note: (id, message) =>
      run.write(async (tx) => {
        const rows = await tx
          .update(wi)
          .set({ message, updatedAt: new Date() })
          .where(and(eq(wi.id, id), notInArray(wi.state, [...TERMINAL_WORKFLOW_STATES])))
          .returning({ id: wi.id });
        return rows.length > 0;
      }),
  };
}
