// What an alert says, whatever carries it: one AlertMessage (message.ts builds it from an outbox
// row) rendered as a title and a plain text, and the webhook's templated JSON body. Pure.

import type { AlertKind } from "../core/alert-events.ts";

export interface FailedTask {
  name: string;
  attempt: number;
  state: string;
  message: string | null;
  /** The last lines of its log (at most LOG_TAIL_BYTES), "" when it has none. */
  logTail: string;
}

export interface AlertMessage {
  kind: AlertKind;
  project: string;
  workflow: string | null;
  workflowInstanceId: number | null;
  scheduleId: number | null;
  /** INSTANCE_END: the run's state; otherwise null. */
  state: string | null;
  /** The task that failed or warned (TASK_FAILED, TASK_WARN_TIMEOUT). */
  task: string | null;
  failedTasks: FailedTask[];
  /** The row's own words: a timeout, a misfire count, a test. */
  detail: string | null;
  /** The run in the web UI, when a base URL is configured (--base-url). */
  link: string | null;
  at: Date;
}

export const LOG_TAIL_BYTES = 2000;

const HEADLINE: Record<AlertKind, string> = {
  INSTANCE_END: "run ended",
  TASK_FAILED: "task failed after its last retry",
  TASK_WARN_TIMEOUT: "task passed its timeout (WARN)",
  MISFIRE: "schedule misfire",
  TEST: "test alert",
};

export function titleOf(m: AlertMessage): string {
  const what = m.kind === "INSTANCE_END" ? (m.state ?? "ended") : HEADLINE[m.kind];
  const where = [m.project, m.workflow].filter((x) => x !== null).join(" / ");
  const run = m.workflowInstanceId !== null ? ` #${m.workflowInstanceId}` : "";
  const task = m.task !== null && m.kind !== "INSTANCE_END" ? ` task "${m.task}"` : "";
  return `[porpoise] ${what}: ${where}${run}${task}`;
}

export function textOf(m: AlertMessage): string {
  const lines = [`project: ${m.project}`];
  if (m.workflow !== null) lines.push(`workflow: ${m.workflow}`);
  if (m.workflowInstanceId !== null) lines.push(`instance: ${m.workflowInstanceId}`);
  if (m.state !== null) lines.push(`state: ${m.state}`);
  if (m.scheduleId !== null) lines.push(`schedule: ${m.scheduleId}`);
  if (m.task !== null) lines.push(`task: ${m.task}`);
  if (m.detail) lines.push(m.detail);
  for (const t of m.failedTasks) {
    lines.push("", `failed task "${t.name}" (attempt ${t.attempt}, ${t.state})${t.message ? `: ${t.message}` : ""}`);
    if (t.logTail !== "") lines.push("log tail:", t.logTail.trimEnd());
  }
  if (m.link !== null) lines.push("", m.link);
  return lines.join("\n");
}

/** The variables a webhook template may use, as strings. */
export function variablesOf(m: AlertMessage): Record<string, string> {
  return {
    kind: m.kind,
    title: titleOf(m),
    text: textOf(m),
    project: m.project,
    workflow: m.workflow ?? "",
    instanceId: m.workflowInstanceId === null ? "" : String(m.workflowInstanceId),
    state: m.state ?? "",
    task: m.task ?? "",
    failedTasks: m.failedTasks.map((t) => t.name).join(", "),
    detail: m.detail ?? "",
    link: m.link ?? "",
    at: m.at.toISOString(),
  };
}

export const SAMPLE_VARIABLES: Record<string, string> = variablesOf({
  kind: "INSTANCE_END",
  project: "p",
  workflow: "w",
  workflowInstanceId: 1,
  scheduleId: null,
  state: "FAILURE",
  task: null,
  failedTasks: [{ name: "t", attempt: 1, state: "FAILURE", message: "exit code 1", logTail: "\"quoted\"\n" }],
  detail: null,
  link: "https://porpoise.example/projects/p/runs/1",
  at: new Date(0),
});

/**
 * `{{name}}` replaced by the variable's value escaped for a JSON string (the template puts it
 * inside quotes); an unknown name becomes "". Values are never evaluated: this is text substitution.
 */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (_, name: string) => JSON.stringify(vars[name] ?? "").slice(1, -1));
}

/** The generic webhook's body without a template: the whole message as JSON. */
export function genericBody(m: AlertMessage): Record<string, unknown> {
  return {
    kind: m.kind,
    title: titleOf(m),
    text: textOf(m),
    project: m.project,
    workflow: m.workflow,
    workflowInstanceId: m.workflowInstanceId,
    scheduleId: m.scheduleId,
    state: m.state,
    task: m.task,
    failedTasks: m.failedTasks,
    detail: m.detail,
    link: m.link,
    at: m.at.toISOString(),
  };
}
