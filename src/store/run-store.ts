// The Store contract for running workflows (issue 3): commands and workflow instances; task
// attempts with group-commit batches are in task-store.ts, datasources in datasource-store.ts.
// Split from store.ts, which re-exports them.
// State names are DolphinScheduler's (docs/architecture.md §4); which transitions are allowed is the
// engine's business (src/core/states.ts). The store only applies a change when the row is
// still in one of the states the caller expects and the caller's fencing token still holds.

import type { TaskState, WorkflowState } from "../core/states.ts";
import type { ExecutionType } from "../core/workflow-schema.ts";
import type { Actor, Page, PageQuery } from "./store.ts";


/** The engine's state names (src/core/states.ts holds them and the transition table). */
export type WorkflowInstanceState = WorkflowState;
export type TaskInstanceState = TaskState;

export type CommandType =
  | "START"
  | "STOP"
  | "PAUSE"
  | "RESUME"
  | "RERUN"
  | "RECOVER_FAILED"
  | "FORCE_SUCCESS"
  | "KILL_TASK"
  | "SCHEDULE";
/**
 * PENDING: waiting. CLAIMED: a master took it and is carrying it out (consumedBy, consumedAt: who,
 * since when); back to PENDING if that master gives it up, stops, or dies (its slot's next owner
 * re-opens it). CONSUMED: carried out, or found to have nothing to do (consumedAt: when) — a
 * command's effect and its CONSUMED commit together where the effect is a store write.
 */
export type CommandState = "PENDING" | "CLAIMED" | "CONSUMED";
export type FailureStrategy = "CONTINUE" | "END";
export type DependType = "TASK_ONLY" | "TASK_PRE" | "TASK_POST";
export type Priority = "HIGHEST" | "HIGH" | "MEDIUM" | "LOW" | "LOWEST";
/** A control that submits an ended instance again; its start mode applies when the instance next starts. */
export type PendingControl = "resume" | "rerun" | "recover-failed";

export interface Command {
  id: number;
  type: CommandType;
  projectId: number;
  workflowId: number | null;
  workflowInstanceId: number | null;
  payload: Record<string, unknown>;
  state: CommandState;
  createdBy: number | null;
  createdAt: Date;
  consumedAt: Date | null;
  consumedBy: string | null;
}

export interface NewCommand {
  type: CommandType;
  projectId: number;
  workflowId?: number | null;
  workflowInstanceId?: number | null;
  payload?: Record<string, unknown>;
}

export interface CommandRepository {
  /** Stores a PENDING command and its audit row in one transaction. NotFoundError for a missing project/workflow/instance. */
  enqueue(input: NewCommand, actor: Actor): Promise<Command>;
  /**
   * Claims up to `limit` PENDING commands, oldest first, for `consumer` (a node id): they become
   * CLAIMED. One guarded UPDATE … WHERE state = 'PENDING': a command is handed to exactly one
   * claimer, even when several race; a claimer that loses a race gets fewer (possibly none) and
   * simply asks again. The claimer carries each out and then marks it CONSUMED (`complete`, or in
   * the effect's own transaction: the `command` op of applyBatch, InstanceRestart.command), or
   * gives it back (`release`).
   * With `slots` (a master's owned slots): only commands whose workflow instance is in one of
   * them, plus commands with no instance (they create one, whose slot is known only then: any
   * master may take them, still exactly once); `slots: []` claims nothing.
   */
  claimNext(consumer: string, limit: number, filter?: { types?: CommandType[]; slots?: readonly number[] }): Promise<Command[]>;
  /**
   * Gives a command `consumer` claimed but did not carry out back (CLAIMED → PENDING): its
   * instance's slot moved to another master, the master is stopping, or its write was refused.
   * False when it is not CLAIMED by `consumer`.
   */
  release(id: number, consumer: string): Promise<boolean>;
  /**
   * Marks a command `consumer` claimed as carried out (CLAIMED → CONSUMED), for effects that are
   * not one store write with it (nothing to do, or a step that is safe to repeat). True when it is
   * now CONSUMED by `consumer` (also when it was already: a retry whose first answer was lost);
   * false when it is not `consumer`'s (given back, re-opened) or, on a fenced store, `consumer`
   * does not hold the lease of the instance's slot.
   */
  complete(id: number, consumer: string): Promise<boolean>;
  /**
   * Orphans (docs/architecture.md §3.5): CLAIMED commands of instances in `slots` that no live
   * claim stands behind go back to PENDING — those of every other node (only the slot's owner may
   * hold them; the old owner's writes are fenced), and `consumer`'s own unless `keepOwn` (claims
   * of an earlier life of the same node id, or ones it failed to give back). On a fenced store only
   * for slots `consumer` holds the lease of. Returns their ids.
   */
  reopen(slots: readonly number[], consumer: string, keepOwn: boolean): Promise<number[]>;
  /** Consumes one PENDING command at once (PENDING → CONSUMED); null when it does not exist or was taken already. */
  claim(id: number, consumer: string): Promise<Command | null>;
  get(id: number): Promise<Command | null>;
  /** PENDING commands, oldest first (restart recovery, debugging). */
  listPending(limit: number): Promise<Command[]>;
}

export interface WorkflowInstance {
  id: number;
  projectId: number;
  workflowId: number;
  workflowVersion: number;
  state: WorkflowInstanceState;
  runType: string;
  slot: number;
  epoch: number;
  priority: string;
  workerGroup: string;
  failureStrategy: string;
  params: Record<string, string>;
  startTasks: string[] | null;
  dependType: string | null;
  runTimes: number;
  scheduleId: number | null;
  scheduleTime: Date | null;
  /** The backfill that created this run (runType COMPLEMENT_DATA), if any. */
  backfillId: number | null;
  commandId: number | null;
  parentTaskInstanceId: number | null;
  dryRun: boolean;
  host: string | null;
  startTime: Date | null;
  endTime: Date | null;
  /** The zone of the run's built-in time params, fixed at creation (schedule's zone for scheduled and backfill runs, else UTC). */
  timezone: string;
  /** Why the instance ended as it did when its state does not say (serial discard, refused control, timeout…); else null. */
  message: string | null;
  /** The control that submitted it again (resume / rerun / recover-failed); applies while SERIAL_WAIT or SUBMITTED_SUCCESS. */
  pendingControl: PendingControl | null;
  /**
   * The user whose project rights the run uses to reach another project (sub_workflow, dependent):
   * who started it (a child: its parent's). null: scheduled or backfill runs (their creator counts), or the user is gone.
   */
  executorId: number | null;
  /** Sub_workflow nesting: 0 for a run started by a user, a schedule or a backfill; a child is its parent's + 1. */
  depth: number;
  createdAt: Date;
  updatedAt: Date;
}

/** An instance as read for display (get, list): with its workflow's name, joined in the same query. */
export interface NamedWorkflowInstance extends WorkflowInstance {
  workflowName: string;
}

export interface NewWorkflowInstance {
  workflowId: number;
  /** Defaults to the workflow's current version; NotFoundError when it does not exist. */
  version?: number;
  /** The slot (decided by the caller), or a function of the new id (slot = hash(id)). */
  slot: number | ((id: number) => number);
  /**
   * With a `slot` function that is slotOfInstance(id, slotCount): the count, so that Postgres can
   * draw the id and compute the same slot in the create's one statement (porpoise_slot_of_instance,
   * migration 0019) instead of a nextval round trip first.
   */
  slotCount?: number;
  epoch?: number;
  /** e.g. START_PROCESS, SCHEDULER, SUB_PROCESS, COMPLEMENT_DATA. */
  runType: string;
  state?: WorkflowInstanceState;
  priority?: Priority;
  workerGroup?: string;
  failureStrategy?: FailureStrategy;
  params?: Record<string, string>;
  startTasks?: string[] | null;
  dependType?: DependType | null;
  dryRun?: boolean;
  scheduleId?: number | null;
  scheduleTime?: Date | null;
  parentTaskInstanceId?: number | null;
  host?: string | null;
  /** IANA zone of the run's time params; default: the zone of `scheduleId`'s schedule, else UTC. */
  timezone?: string;
  /** The user the run acts for (WorkflowInstance.executorId). */
  executorId?: number | null;
  /** Sub_workflow nesting depth; default 0. */
  depth?: number;
  /**
   * A sub_workflow child (with parentTaskInstanceId) is refused with ParentNotRunningError, in the
   * same transaction, unless its parent attempt and the parent instance are RUNNING_EXECUTION: a
   * stopping or pausing parent starts no new children.
   * With `audit`, an audit row is written in the same transaction (in the new instance's project).
   */
  audit?: { actor: Actor; action: string; details: Record<string, string | number | boolean | null> };
  /** A PENDING command consumed in the same transaction (ConflictError when already consumed). */
  consumeCommand?: { id: number; consumer: string };
  /**
   * The version's execution type. A serial one decides the state under the workflow row lock
   * (overriding `state`): SUBMITTED_SUCCESS when nothing of the workflow is active, else
   * SERIAL_WAIT, or STOP for SERIAL_DISCARD; SERIAL_PRIORITY also stops older waiting ones.
   */
  executionType?: ExecutionType;
  /**
   * The Idempotency-Key of the run request (unique per project): a second create with the same
   * key throws RequestKeyUsedError and creates nothing (docs/architecture.md §3.5).
   */
  requestKey?: string | null;
}

/** Fields a transition may set besides state and epoch. */
export interface WorkflowInstanceChanges {
  host?: string | null;
  startTime?: Date | null;
  endTime?: Date | null;
  /** Rerun / recover: bumps the run counter. */
  runTimes?: number;
  params?: Record<string, string>;
  startTasks?: string[] | null;
  dependType?: string | null;
  failureStrategy?: FailureStrategy;
  message?: string | null;
  /** A control that starts the run again (resume, rerun, recover-failed) makes its issuer the run's executor. */
  executorId?: number | null;
}

export interface InstanceTransition {
  from: readonly WorkflowInstanceState[];
  to: WorkflowInstanceState;
  /** The writer's slot epoch: applied only when the row's epoch is not newer; stored on the row. */
  epoch: number;
  set?: WorkflowInstanceChanges;
}

export interface InstanceQuery extends PageQuery {
  projectId: number;
  workflowId?: number;
  states?: readonly WorkflowInstanceState[];
  /** created_at ≥ from */
  from?: Date;
  /** created_at < to */
  to?: Date;
}

export interface WorkflowInstanceRepository {
  /**
   * One transaction: locks the workflow row (so it cannot be taken OFFLINE or deleted meanwhile),
   * refuses an OFFLINE workflow with ConflictError, inserts the instance, optionally consumes its
   * command. NotFoundError for a missing workflow or version.
   */
  create(input: NewWorkflowInstance): Promise<WorkflowInstance>;
  /** Fenced: the changed row, or null when the state was not one of `from` or the epoch is stale. Never throws for that. */
  transition(id: number, change: InstanceTransition): Promise<WorkflowInstance | null>;
  get(id: number): Promise<NamedWorkflowInstance | null>;
  /** get() of many at once (a master loading the runs one tick woke it for); missing ids are left out, in no order. */
  getMany(ids: readonly number[]): Promise<NamedWorkflowInstance[]>;
  /** The instance a run request with this Idempotency-Key created in the project, if any. */
  byRequestKey(projectId: number, requestKey: string): Promise<NamedWorkflowInstance | null>;
  /** Newest first. */
  list(query: InstanceQuery): Promise<Page<NamedWorkflowInstance>>;
  /** Non-terminal instances (restart recovery), of the given slots or all, oldest first. */
  listActive(query?: { slots?: readonly number[] }): Promise<WorkflowInstance[]>;
  /** Serial queue: when no instance of the workflow runs, its oldest SERIAL_WAIT one becomes SUBMITTED_SUCCESS (returned); else null. */
  releaseSerial(workflowId: number): Promise<WorkflowInstance | null>;
  /** Stop of a SERIAL_WAIT instance: STOP at once; null when it is no longer waiting. */
  stopWaiting(id: number): Promise<WorkflowInstance | null>;
  /**
   * Workflows that have SERIAL_WAIT instances (restart recovery), of the given slots or all;
   * `stranded`: only those of which no other instance is active (the reconciliation sweep).
   */
  workflowsWithWaiting(opts?: { slots?: readonly number[]; stranded?: boolean }): Promise<number[]>;
  /**
   * A control (resume / rerun / recover-failed) submits an ended instance again, in ONE transaction
   * under the workflow row lock that also makes the serial decision (serial-instances.ts).
   */
  restart(id: number, change: InstanceRestart): Promise<RestartOutcome>;
  /** Sets `message` while the instance has not ended (false when it has, or is gone): why it will end as it does. */
  note(id: number, message: string): Promise<boolean>;
  /** The oldest active (not ended) instance of the workflow other than `exceptId`, or null. */
  firstActive(workflowId: number, exceptId?: number): Promise<number | null>;
}

export interface InstanceRestart {
  control: PendingControl;
  /** The states the caller saw; the change applies only while the row is still in one of them. */
  from: readonly WorkflowInstanceState[];
  epoch: number;
  set?: WorkflowInstanceChanges;
  /**
   * The command carrying the control out, CLAIMED by `consumer`: it becomes CONSUMED in the same
   * transaction as the restart (submitted, queued or refused), so the restart is applied once
   * however often the command is tried; outcome "unclaimed" (nothing changed) when it is not
   * CLAIMED by `consumer` (CONSUMED already, or given back).
   */
  command?: { id: number; consumer: string };
}

/**
 * submitted: SUBMITTED_SUCCESS, start it now (with the control's mode). queued: SERIAL_WAIT behind
 * `blockedBy`; the serial queue starts it later with the same mode. refused: SERIAL_DISCARD while
 * `blockedBy` is active — the state is unchanged, `message` says why. stale: the row was not in
 * `from` any more, or the epoch was older. unclaimed: `command` was not CLAIMED by its consumer.
 */
export type RestartOutcome =
  | { outcome: "submitted"; instance: WorkflowInstance }
  | { outcome: "queued"; instance: WorkflowInstance; blockedBy: number }
  | { outcome: "refused"; instance: WorkflowInstance; blockedBy: number }
  | { outcome: "stale" }
  | { outcome: "unclaimed" };
