// Value sets and JSON shapes shared by both table definitions and the repositories.

export type JsonObject = Record<string, unknown>;
export type StringMap = Record<string, string>;

export const TOKEN_KINDS = ["session", "api"] as const;
export const PROJECT_ROLES = ["owner", "developer", "viewer"] as const;
export const RELEASE_STATES = ["ONLINE", "OFFLINE"] as const;
export const CATCHUP_MODES = ["none", "latest", "all"] as const;

/**
 * Workflow-instance states after which nothing runs any more (DS `isFinished()`: a paused
 * instance holds no running task). The one place that decides whether a workflow has
 * "active" instances — e.g. for the guarded delete. Moves next to the transition table
 * once the engine brings one.
 */
export const TERMINAL_WORKFLOW_STATES = ["SUCCESS", "FAILURE", "STOP", "PAUSE"] as const;

/** Task-instance states that end an attempt. */
export const TERMINAL_TASK_STATES = ["SUCCESS", "FAILURE", "STOP", "KILL", "PAUSE", "FORCED_SUCCESS"] as const;
