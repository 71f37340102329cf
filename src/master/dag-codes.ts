// The integer codes DagState keeps in its typed arrays (shared with dag-tasks.ts and dag-recovery.ts).

import type { TaskDefinition } from "../core/task-types.ts";
import type { TaskStatus } from "./dag-actions.ts";

// Task status codes (Uint8Array); names in STATUS_NAMES.
export const NOT_IN_RUN = 0;
export const WAITING = 1;
export const HELD = 2;
export const ACTIVE = 3;
export const SUCCEEDED = 4;
export const FAILED = 5;
export const SKIPPED_FORBIDDEN = 6;
export const SKIPPED_BRANCH = 7;
export const BLOCKED = 8;
export const STATUS_NAMES: readonly TaskStatus[] = ["not-in-run", "waiting", "held", "running", "succeeded", "failed", "skipped-forbidden", "skipped-branch", "blocked"];

// What a finished task tells each downstream task.
export const OK = 1; // succeeded, forced, forbidden: go on
export const SKIP = 2; // on a branch not taken
export const FAIL = 3; // failed: blocks all but conditions tasks
export const BLOCK = 4; // killed or itself blocked: blocks everything

// Why a task is held (ready, but not started because of a pause, a stop or an END failure).
export const HELD_START = 1;
export const HELD_RETRY = 2;
export const HELD_RERUN = 3;

export const PRIORITY_RANK: Record<TaskDefinition["priority"], number> = { HIGHEST: 0, HIGH: 1, MEDIUM: 2, LOW: 3, LOWEST: 4 };
export const ACTIVE_STATES: ReadonlySet<string> = new Set(["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "DISPATCH", "RUNNING_EXECUTION"]);
