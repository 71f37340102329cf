// Workflow- and task-instance states under their DolphinScheduler names, and the ONE table
// per kind of which state may follow which (docs/architecture.md §4). The store's guarded updates, the
// master's event handling and the API's controls all ask this module, so a transition that
// is not listed here cannot happen anywhere.
//
// Task instances are one row per attempt: a retry or a fault-tolerance rerun is a new row,
// so terminal task states have no way out except a user's force-success.

import { ConflictError } from "./errors.ts";

export const WORKFLOW_STATES = [
  "SUBMITTED_SUCCESS",
  "RUNNING_EXECUTION",
  "READY_PAUSE",
  "PAUSE",
  "READY_STOP",
  "STOP",
  "FAILURE",
  "SUCCESS",
  "DELAY_EXECUTION",
  "SERIAL_WAIT",
] as const;
export type WorkflowState = (typeof WORKFLOW_STATES)[number];

export const TASK_STATES = [
  "SUBMITTED_SUCCESS",
  "DISPATCH",
  "RUNNING_EXECUTION",
  "PAUSE",
  "STOP",
  "FAILURE",
  "SUCCESS",
  "NEED_FAULT_TOLERANCE",
  "KILL",
  "DELAY_EXECUTION",
  "FORCED_SUCCESS",
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export type StateKind = "workflow" | "task";

/**
 * Workflow-instance states after which nothing runs any more (DS `isFinished()`: a paused
 * instance holds no running task). The one place that decides whether a workflow has
 * "active" instances — e.g. for the guarded delete.
 */
export const TERMINAL_WORKFLOW_STATES = ["SUCCESS", "FAILURE", "STOP", "PAUSE"] as const satisfies readonly WorkflowState[];

/**
 * Task-instance states that end an attempt. NEED_FAULT_TOLERANCE marks an attempt whose
 * process was lost (a crash or a dead worker); a new attempt takes over, so it ends too.
 */
export const TERMINAL_TASK_STATES = [
  "SUCCESS",
  "FAILURE",
  "STOP",
  "KILL",
  "PAUSE",
  "FORCED_SUCCESS",
  "NEED_FAULT_TOLERANCE",
] as const satisfies readonly TaskState[];

/** Task states downstream tasks treat as "done, go on" (DS `isSuccess() || isForceSuccess()`). */
export const SUCCESS_TASK_STATES = ["SUCCESS", "FORCED_SUCCESS"] as const satisfies readonly TaskState[];

/** Task states of an attempt that is still alive: created, waiting for its delay, queued or running. */
export const ACTIVE_TASK_STATES = ["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "DISPATCH", "RUNNING_EXECUTION"] as const satisfies readonly TaskState[];

// Every state has an entry (the `Record` type checks that), so a new state cannot be
// forgotten here. Read each line as "from → any of".
const WORKFLOW_TRANSITIONS: Record<WorkflowState, readonly WorkflowState[]> = {
  SUBMITTED_SUCCESS: ["RUNNING_EXECUTION", "DELAY_EXECUTION", "SERIAL_WAIT", "READY_PAUSE", "READY_STOP", "STOP", "FAILURE"],
  DELAY_EXECUTION: ["RUNNING_EXECUTION", "SUBMITTED_SUCCESS", "READY_PAUSE", "READY_STOP", "STOP", "FAILURE"],
  SERIAL_WAIT: ["SUBMITTED_SUCCESS", "RUNNING_EXECUTION", "READY_STOP", "STOP", "FAILURE"],
  // PAUSE / STOP directly: a control that arrives while no task is running has nothing to wait for.
  RUNNING_EXECUTION: ["READY_PAUSE", "READY_STOP", "PAUSE", "STOP", "SUCCESS", "FAILURE"],
  // The last running tasks may complete the workflow (SUCCESS) or fail it while it pauses.
  READY_PAUSE: ["PAUSE", "READY_STOP", "STOP", "SUCCESS", "FAILURE"],
  // A stop always ends STOP: the user asked for it, whatever the last tasks did.
  READY_STOP: ["STOP"],
  // Terminal states leave only through a control that submits the instance again.
  PAUSE: ["SUBMITTED_SUCCESS"],
  STOP: ["SUBMITTED_SUCCESS"],
  FAILURE: ["SUBMITTED_SUCCESS"],
  SUCCESS: ["SUBMITTED_SUCCESS"],
};

const TASK_TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  // SUCCESS / FAILURE straight from SUBMITTED_SUCCESS: tasks the master runs itself
  // (conditions, switch) and dry runs never reach a worker.
  SUBMITTED_SUCCESS: ["DELAY_EXECUTION", "DISPATCH", "RUNNING_EXECUTION", "SUCCESS", "FAILURE", "KILL", "STOP", "PAUSE", "NEED_FAULT_TOLERANCE"],
  DELAY_EXECUTION: ["DISPATCH", "KILL", "STOP", "PAUSE", "NEED_FAULT_TOLERANCE"],
  // Events are at-least-once and unordered across hops, so "done" may arrive before "running".
  DISPATCH: ["RUNNING_EXECUTION", "SUCCESS", "FAILURE", "KILL", "STOP", "PAUSE", "NEED_FAULT_TOLERANCE"],
  // PAUSE: a sub_workflow attempt whose child paused with its parent (master-tasks.ts).
  RUNNING_EXECUTION: ["SUCCESS", "FAILURE", "KILL", "STOP", "PAUSE", "NEED_FAULT_TOLERANCE"],
  FAILURE: ["FORCED_SUCCESS"],
  KILL: ["FORCED_SUCCESS"],
  NEED_FAULT_TOLERANCE: [],
  STOP: [],
  PAUSE: [],
  SUCCESS: [],
  FORCED_SUCCESS: [],
};

const workflowStateSet: ReadonlySet<string> = new Set(WORKFLOW_STATES);
const taskStateSet: ReadonlySet<string> = new Set(TASK_STATES);

export function isWorkflowState(value: unknown): value is WorkflowState {
  return typeof value === "string" && workflowStateSet.has(value);
}

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === "string" && taskStateSet.has(value);
}

export function isTerminalWorkflowState(state: WorkflowState): boolean {
  return (TERMINAL_WORKFLOW_STATES as readonly string[]).includes(state);
}

export function isTerminalTaskState(state: TaskState): boolean {
  return (TERMINAL_TASK_STATES as readonly string[]).includes(state);
}

export function countsAsSuccess(state: TaskState): boolean {
  return state === "SUCCESS" || state === "FORCED_SUCCESS";
}

export function allowedTransitions(kind: "workflow", from: WorkflowState): readonly WorkflowState[];
export function allowedTransitions(kind: "task", from: TaskState): readonly TaskState[];
export function allowedTransitions(kind: StateKind, from: string): readonly string[];
export function allowedTransitions(kind: StateKind, from: string): readonly string[] {
  const table: Record<string, readonly string[]> = kind === "workflow" ? WORKFLOW_TRANSITIONS : TASK_TRANSITIONS;
  return Object.hasOwn(table, from) ? table[from]! : [];
}

/** Whether `to` may follow `from`; unknown state names are never allowed. Staying in the same state is not a transition. */
export function canTransition(kind: StateKind, from: string, to: string): boolean {
  return allowedTransitions(kind, from).includes(to);
}

/** Throws ConflictError naming both states (and what `from` may become) unless `canTransition`. */
export function assertTransition(kind: StateKind, from: string, to: string): void {
  if (canTransition(kind, from, to)) return;
  const next = allowedTransitions(kind, from);
  const options = next.length > 0 ? `it can only become ${next.join(", ")}` : "it is final";
  throw new ConflictError(`a ${kind} instance in state ${from} cannot change to ${to}; ${options}`);
}

// ── Controls ───────────────────────────────────────────────────────────────────────────

export const WORKFLOW_CONTROLS = ["stop", "pause", "resume", "rerun", "recover-failed"] as const;
export type WorkflowControl = (typeof WORKFLOW_CONTROLS)[number];

interface ControlRule {
  readonly from: readonly WorkflowState[];
  /** What the instance becomes when the control is accepted (the API's guarded update). */
  readonly to: WorkflowState;
  /** Says what the control needs, for the 409 message. */
  readonly needs: string;
}

// DS ExecutorServiceImpl.checkExecuteType, widened where DS refuses for no user-visible
// reason: stop also applies to instances not yet running (submitted, delayed, serial
// wait) and to one that is pausing, and pause to one not yet running.
const CONTROL_RULES: Record<WorkflowControl, ControlRule> = {
  stop: {
    from: ["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "SERIAL_WAIT", "RUNNING_EXECUTION", "READY_PAUSE"],
    to: "READY_STOP",
    needs: "an instance that is submitted, waiting, running or pausing",
  },
  pause: {
    from: ["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "RUNNING_EXECUTION"],
    to: "READY_PAUSE",
    needs: "an instance that is submitted, delayed or running",
  },
  resume: { from: ["PAUSE", "STOP"], to: "SUBMITTED_SUCCESS", needs: "a paused or stopped instance" },
  rerun: { from: ["SUCCESS", "FAILURE", "STOP", "PAUSE"], to: "SUBMITTED_SUCCESS", needs: "a finished instance (SUCCESS, FAILURE, STOP or PAUSE)" },
  "recover-failed": { from: ["FAILURE"], to: "SUBMITTED_SUCCESS", needs: "a failed instance" },
};

export function controlRule(control: WorkflowControl): ControlRule {
  return CONTROL_RULES[control];
}

export function controlFits(control: WorkflowControl, state: string): boolean {
  return (CONTROL_RULES[control].from as readonly string[]).includes(state);
}

/** Throws ConflictError naming the current state and what the control needs; returns the state the instance becomes. */
export function assertControl(control: WorkflowControl, state: string): WorkflowState {
  const rule = CONTROL_RULES[control];
  if (!controlFits(control, state)) {
    throw new ConflictError(
      `cannot ${control} a workflow instance in state ${state}: ${control} needs ${rule.needs} (${rule.from.join(", ")})`,
    );
  }
  return rule.to;
}

export const TASK_CONTROLS = ["force-success", "kill"] as const;
export type TaskControl = (typeof TASK_CONTROLS)[number];

const TASK_CONTROL_RULES: Record<TaskControl, { readonly from: readonly TaskState[]; readonly to: TaskState; readonly needs: string }> = {
  "force-success": { from: ["FAILURE", "KILL"], to: "FORCED_SUCCESS", needs: "a failed or killed task instance" },
  kill: { from: ACTIVE_TASK_STATES, to: "KILL", needs: "a task instance that has not ended" },
};

/** Task-instance controls: force-success (FAILURE/KILL → FORCED_SUCCESS) and kill (an active attempt → KILL); returns the new state. */
export function assertTaskControl(control: TaskControl, state: string): TaskState {
  const rule = TASK_CONTROL_RULES[control];
  if (!(rule.from as readonly string[]).includes(state)) {
    throw new ConflictError(`cannot ${control} a task instance in state ${state}: ${control} needs ${rule.needs} (${rule.from.join(", ")})`);
  }
  return rule.to;
}
