// Value sets and JSON shapes shared by both table definitions and the repositories.

export type JsonObject = Record<string, unknown>;
export type StringMap = Record<string, string>;

export const TOKEN_KINDS = ["session", "api"] as const;
export const PROJECT_ROLES = ["owner", "developer", "viewer"] as const;
export const RELEASE_STATES = ["ONLINE", "OFFLINE"] as const;
export const CATCHUP_MODES = ["none", "latest", "all"] as const;

// The state sets live beside the transition table; re-exported for the repositories.
export { TERMINAL_TASK_STATES, TERMINAL_WORKFLOW_STATES } from "../core/states.ts";

/** Kinds of alert channel (migration 0015); src/alerts/channel-types.ts holds each one's fields. */
export const ALERT_CHANNEL_TYPES = ["webhook", "slack", "email", "pagerduty"] as const;
export type AlertChannelType = (typeof ALERT_CHANNEL_TYPES)[number];
