// The Store contract for task attempts (issue 3): the rows, the fenced inserts and updates the
// master's group commit is made of (applyBatch), and the reads workers and the API make. Split
// from run-store.ts; store.ts re-exports it. The store applies a change only when the row is still
// in one of the states the caller expects and the caller's fencing token still holds.

import type { InstanceTransition, Priority, TaskInstanceState } from "./run-store.ts";

export interface TaskInstance {
  id: number;
  workflowInstanceId: number;
  taskName: string;
  taskType: string;
  state: TaskInstanceState;
  attempt: number;
  dispatchToken: string | null;
  slot: number;
  epoch: number;
  workerGroup: string;
  priority: string;
  host: string | null;
  submitTime: Date | null;
  startTime: Date | null;
  endTime: Date | null;
  notBefore: Date | null;
  params: Record<string, string>;
  output: Record<string, string> | null;
  exitCode: number | null;
  logPath: string | null;
  message: string | null;
  /**
   * An attempt of a run before the latest rerun (DolphinScheduler's invalid task instance): kept as
   * history, but resume, recover-failed and restart recovery ignore it (issue 9 item 10).
   */
  superseded: boolean;
  /** A timeout with strategy WARN passed while it ran: what happened (it ran on). Null: no warning. */
  warning: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A new attempt. Fenced by its workflow instance's epoch (stale when a newer master wrote it). */
export interface TaskAttemptInsert {
  op: "insert";
  workflowInstanceId: number;
  taskName: string;
  taskType: string;
  attempt: number;
  state: TaskInstanceState;
  dispatchToken: string | null;
  slot: number;
  epoch: number;
  workerGroup?: string;
  priority?: Priority;
  params?: Record<string, string>;
  submitTime?: Date | null;
  notBefore?: Date | null;
}

export interface TaskAttemptChanges {
  host?: string | null;
  startTime?: Date | null;
  endTime?: Date | null;
  output?: Record<string, string> | null;
  exitCode?: number | null;
  logPath?: string | null;
  message?: string | null;
  notBefore?: Date | null;
  /** A fresh token (e.g. re-dispatch of a DELAY_EXECUTION attempt). */
  dispatchToken?: string | null;
}

/** A fenced change of one attempt: applied only when id, attempt, token and state all match. */
export interface TaskAttemptUpdate {
  op: "update";
  id: number;
  attempt: number;
  /** The dispatch token the change is for; null matches an attempt that has none yet. */
  token: string | null;
  from: readonly TaskInstanceState[];
  to: TaskInstanceState;
  set?: TaskAttemptChanges;
  /** With `epoch`, also fenced by (and bumping) its workflow instance's epoch, like an insert. */
  fence?: { workflowInstanceId: number; epoch: number };
}

/** A workflow-instance transition inside a batch (e.g. the last task's SUCCESS and the instance's, together). */
export interface InstanceTransitionOp extends InstanceTransition {
  op: "instance";
  id: number;
}

/**
 * A claimed command carried out by the other ops of the batch (STOP, PAUSE, KILL_TASK,
 * FORCE_SUCCESS of a driven instance): CLAIMED by `consumer` → CONSUMED in the batch's
 * transaction, only when every op at the indexes in `after` (the ops that are its effect; none:
 * nothing to do) was applied, and the command is still CLAIMED by `consumer` (on a fenced store
 * also: `consumer` holds the lease of its instance's slot). Applied after every other op.
 */
export interface CommandDoneOp {
  op: "command";
  id: number;
  consumer: string;
  after: readonly number[];
}

/**
 * An alert the batch's state change causes (issue 11): one alert_outbox row per policy of the
 * workflow or schedule whose events match (alert-outbox.ts), written in the batch's transaction
 * only when every op at the indexes in `after` was applied. Applied after every other op, like a
 * command mark. The master adds one only where an alert can be due (an instance's end, a task's
 * last failure), never per task.
 */
export interface AlertOp {
  op: "alert";
  kind: "INSTANCE_END" | "TASK_FAILED";
  projectId: number;
  workflowId: number;
  scheduleId: number | null;
  workflowInstanceId: number;
  taskInstanceId: number | null;
  /** INSTANCE_END: the instance's new state; TASK_FAILED: the task's name. */
  state: string;
  message: string | null;
  /** Policy event bits that select the policies (core/alert-events.ts). */
  mask: number;
  after: readonly number[];
}

export type TaskBatchOp = TaskAttemptInsert | TaskAttemptUpdate | InstanceTransitionOp | CommandDoneOp | AlertOp;

export type TaskBatchOutcome =
  | { outcome: "applied"; id: number }
  | { outcome: "stale" }
  | { outcome: "duplicate" };

/** What a worker checks before it runs a message (docs/architecture.md §3.4), and what it needs to run it. */
export type DispatchRow = Pick<TaskInstance, "id" | "workflowInstanceId" | "taskName" | "taskType" | "state" | "attempt" | "dispatchToken" | "params">;

export interface TaskInstanceRepository {
  /**
   * Group commit: ONE transaction applies every op and returns one outcome per op, in order.
   * "stale" (fence, token, attempt or state did not match) and "duplicate" (the attempt exists)
   * are outcomes, not errors; any other failure (e.g. an unknown workflow instance) rolls the
   * whole batch back and throws. Ops apply in this order: instance fences, inserts, updates,
   * instance transitions, command marks — ops of one batch must not depend on each other's
   * effects, except a command mark on the outcomes it names.
   *
   * With `batch.id` the commit also writes a marker holding the outcomes (migration 0008), and
   * a call with `batch.retry` first looks for that marker: when a batch with this id committed
   * already (its COMMIT succeeded but the answer was lost), its stored outcomes are returned and
   * nothing is applied again. So a batch whose outcome is unknown can be retried as it is.
   */
  applyBatch(ops: readonly TaskBatchOp[], batch?: { id: string; retry?: boolean }): Promise<TaskBatchOutcome[]>;
  /** A worker's completion as a one-op batch: "applied" or "stale" (stale or forged token, wrong attempt, already ended). */
  complete(input: {
    id: number;
    attempt: number;
    token: string;
    state: TaskInstanceState;
    from?: readonly TaskInstanceState[];
    output?: Record<string, string> | null;
    exitCode?: number | null;
    endTime: Date;
    message?: string | null;
  }): Promise<"applied" | "stale">;
  get(id: number): Promise<TaskInstance | null>;
  /** The columns a worker checks and runs a message with (one compiled statement: it runs for every dispatched task). */
  dispatchRow(id: number): Promise<DispatchRow | null>;
  /** Every attempt of every task of the instance, by task name then attempt. */
  listForInstance(workflowInstanceId: number): Promise<TaskInstance[]>;
  /** listForInstance() of many instances at once, by instance id (an instance without rows has no entry). */
  listForInstances(workflowInstanceIds: readonly number[]): Promise<Map<number, TaskInstance[]>>;
  /**
   * Restart recovery: every attempt in DISPATCH or RUNNING_EXECUTION (on `host`, or everywhere with
   * `all: true`; optionally only in `slots`) becomes NEED_FAULT_TOLERANCE in one statement; returns them.
   * Ids in `keep` are left as they are: attempts whose process the worker adopted after a restart.
   */
  markInterrupted(query: ({ host: string } | { all: true }) & { slots?: readonly number[]; keep?: readonly number[] }): Promise<TaskInstance[]>;
  /** Every attempt in DISPATCH or RUNNING_EXECUTION (optionally only in `slots`), by id: what a restart finds in flight. */
  listInFlight(query: { slots?: readonly number[] }): Promise<TaskInstance[]>;
  /** Attempts in DISPATCH (queued or handed to a worker, not yet started) per worker group: the cluster page's backlog (one indexed read). */
  dispatchedByGroup(): Promise<Record<string, number>>;
  /**
   * A timeout with strategy WARN passed (issue 9 item 16): ONE transaction sets the attempt's
   * `warning` (matched by id, attempt and token; only the first warning counts), adds an
   * alert_events row of kind TASK_TIMEOUT_WARNING (a record; delivered_at stays null) and an
   * alert_outbox row for each alert policy that wants task-warn-timeout (migration 0015, delivered
   * by the alert delivery loop). False when nothing matched or it was recorded already.
   */
  recordWarning(input: { id: number; attempt: number; token: string | null; message: string }): Promise<boolean>;
}
