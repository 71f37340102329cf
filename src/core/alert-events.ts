// What an alert policy reacts to (issue 11, Alerts). Stored as a bit mask (alert_policies.events,
// migration 0015) so the end of a run finds the policies that care with one indexed lookup and a
// bitwise AND, the same SQL in both dialects.

export const ALERT_EVENTS = {
  /** The run ended FAILURE. */
  failure: 1,
  /** The run ended SUCCESS (a PagerDuty channel also resolves its incident on it: see alertAction). */
  success: 2,
  /** Any end of the run: SUCCESS, FAILURE or STOP. */
  always: 4,
  /** A task passed its timeout with strategy WARN (it goes on). */
  "task-warn-timeout": 8,
  /** A task failed after its last retry. */
  "task-failed": 16,
  /** A schedule's fires were skipped (missed while nothing ran, beyond its catch-up policy). */
  misfire: 32,
} as const;

export type AlertEventName = keyof typeof ALERT_EVENTS;
export const ALERT_EVENT_NAMES = Object.keys(ALERT_EVENTS) as AlertEventName[];

/** What an outbox row is about (alert_outbox.kind). */
export const ALERT_KINDS = ["INSTANCE_END", "TASK_FAILED", "TASK_WARN_TIMEOUT", "MISFIRE", "TEST"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export function eventMask(names: readonly AlertEventName[]): number {
  return names.reduce((mask, n) => mask | ALERT_EVENTS[n], 0);
}

export function eventNames(mask: number): AlertEventName[] {
  return ALERT_EVENT_NAMES.filter((n) => (mask & ALERT_EVENTS[n]) !== 0);
}

/**
 * The policies an instance end writes an outbox row for: those that send on this state, and on
 * SUCCESS also those with `failure` (a PagerDuty channel resolves the incident a failure opened;
 * the delivery loop skips other channels for them). null: no policy cares (PAUSE and the like).
 */
export function endMask(state: string): number | null {
  const E = ALERT_EVENTS;
  if (state === "FAILURE") return E.failure | E.always;
  if (state === "SUCCESS") return E.success | E.always | E.failure;
  if (state === "STOP") return E.always;
  return null;
}

export type AlertAction = "send" | "resolve" | "skip";

/**
 * What a channel does with an outbox row under a policy's events: a PagerDuty channel triggers on
 * everything it is sent and resolves on SUCCESS (and skips a STOP); the others send or skip.
 */
export function alertAction(kind: AlertKind, state: string | null, policyEvents: number, channelType: string): AlertAction {
  const E = ALERT_EVENTS;
  const pd = channelType === "pagerduty";
  if (kind !== "INSTANCE_END") return "send";
  if (state === "SUCCESS") {
    if (pd) return policyEvents & (E.success | E.always | E.failure) ? "resolve" : "skip";
    return policyEvents & (E.success | E.always) ? "send" : "skip";
  }
  if (state === "FAILURE") return policyEvents & (E.failure | E.always) ? "send" : "skip";
  if (state === "STOP") return pd ? "skip" : policyEvents & E.always ? "send" : "skip";
  return "skip";
}
