// What the DAG state (dag-state.ts) takes in and gives back. The driver feeds events in,
// gets actions back, makes every action of one call durable (one transaction), and only
// then sends the dispatches to the Bus — docs/architecture.md §3.7: successors start only after the
// predecessor's result is durable.

import type { TaskState } from "../core/states.ts";

export type FailureStrategy = "CONTINUE" | "END";
export type DependType = "TASK_ONLY" | "TASK_PRE" | "TASK_POST";

/** The latest stored attempt of a task, for restart recovery, resume and recover-failed. */
export interface PreviousAttempt {
  readonly state: TaskState;
  readonly attempt: number;
  /** For a conditions/switch task that succeeded: the branch targets it chose (a `record` action's `branch`). */
  readonly branch?: readonly string[];
}

export interface DagRunOptions {
  readonly failureStrategy: FailureStrategy;
  /** Run only from these tasks; with `dependType` (default TASK_POST, as in DolphinScheduler). */
  readonly startTasks?: readonly string[];
  readonly dependType?: DependType;
  /** Dispatches carry `dryRun: true`: the driver marks them SUCCESS without running anything. */
  readonly dryRun?: boolean;
  /**
   * Latest attempt per task name already in the Store. SUCCESS / FORCED_SUCCESS are kept
   * and not run again; active states are adopted as running (the driver waits for their
   * result or reports NEED_FAULT_TOLERANCE to get a fresh attempt); FAILURE with retries
   * left is retried; other final failures stay failed unless their state is in `rerunStates`.
   * PAUSE and NEED_FAULT_TOLERANCE always run again.
   */
  readonly previous?: ReadonlyMap<string, PreviousAttempt>;
  /** States of `previous` to run again: see RERUN_STATES for the controls. */
  readonly rerunStates?: readonly TaskState[];
  /** Resolved parameters a switch task evaluates its cases over (startup > local > upstream OUT > global). */
  readonly paramsFor?: (task: string) => Readonly<Record<string, string>>;
}

/** `rerunStates` per control, as DolphinScheduler resets task instances for each command. */
export const RERUN_STATES = {
  /** Master failover / restart: nothing final is run again. */
  restart: [],
  /** Recover suspended (resume a PAUSE or STOP instance): paused and killed tasks run again. */
  resume: ["PAUSE", "KILL", "STOP"],
  /** Recover failed: failed, killed and lost tasks run again with fresh retries; successes are kept. */
  recoverFailed: ["FAILURE", "KILL", "STOP", "NEED_FAULT_TOLERANCE"],
} as const satisfies Record<string, readonly TaskState[]>;

export type DispatchReason = "start" | "retry" | "fault-tolerance" | "rerun";

/** Create attempt `attempt` of the task and hand it to a worker after `delaySeconds` (DELAY_EXECUTION until then). */
export interface DispatchAction {
  readonly kind: "dispatch";
  readonly task: string;
  /** Index of the task in the definition's `tasks`. */
  readonly index: number;
  readonly attempt: number;
  readonly delaySeconds: number;
  readonly dryRun: boolean;
  readonly reason: DispatchReason;
}

/** End a live attempt (kill the process, or cancel its delay timer) and report its end as usual. */
export interface KillAction {
  readonly kind: "kill";
  readonly task: string;
  readonly index: number;
  readonly attempt: number;
  readonly reason: "stop" | "failure";
}

/** The task does not run: forbidden (`flag: NO`, downstream proceeds) or on a branch not taken. */
export interface SkipAction {
  readonly kind: "skip";
  readonly task: string;
  readonly index: number;
  readonly reason: "forbidden" | "branch";
}

/** A task the master ran itself (conditions, switch): record the attempt with this state. */
export interface RecordAction {
  readonly kind: "record";
  readonly task: string;
  readonly index: number;
  readonly attempt: number;
  readonly state: "SUCCESS" | "FAILURE";
  /** The branch targets chosen (pass back in PreviousAttempt.branch on recovery). */
  readonly branch: readonly string[];
  /** Why it failed, or which case/branch was taken, for the task log. */
  readonly message: string;
}

/** The workflow instance ends in this state. Always the last action of its call, emitted once per run. */
export interface FinishAction {
  readonly kind: "finish";
  readonly state: "SUCCESS" | "FAILURE" | "STOP" | "PAUSE";
}

export type DagAction = DispatchAction | KillAction | SkipAction | RecordAction | FinishAction;

/** One task's outcome, as the driver reports it after making it durable. */
export interface TaskResult {
  /** A final state of the attempt (SUCCESS, FAILURE, KILL, STOP, PAUSE, NEED_FAULT_TOLERANCE, FORCED_SUCCESS). */
  readonly state: TaskState;
  /** The attempt this result belongs to; anything else is refused as stale. */
  readonly attempt: number;
}

export type TaskStatus =
  | "not-in-run"
  | "waiting"
  | "held"
  | "running"
  | "succeeded"
  | "failed"
  | "skipped-forbidden"
  | "skipped-branch"
  | "blocked";

export interface DagSnapshot {
  readonly state: string;
  /** Tasks in this run (startTasks narrows it). */
  readonly total: number;
  /** succeeded + failed + skipped + blocked. */
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly skipped: number;
  /** Never ran because an upstream task failed (CONTINUE). */
  readonly blocked: number;
  readonly running: number;
  /** Not ready yet (upstream still to finish), or ready but held by a pause, a stop or an END failure. */
  readonly waiting: number;
  readonly runningTasks: readonly string[];
}
