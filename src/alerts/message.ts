// Builds the AlertMessage of an outbox row at delivery time, from the Store: the project,
// workflow and instance it names, the failed tasks with the tail of their logs (the TaskLogs
// port: the Store's shipped chunks, else the local file), and a link into the web UI when a base
// URL is configured. Read once per row, whatever the number of channels.

import type { AlertOutboxRow, Store, TaskInstance } from "../store/store.ts";
import { attemptLogs } from "../logs/attempt-logs.ts";
import { type AlertMessage, type FailedTask, LOG_TAIL_BYTES } from "./templates.ts";

/** At most this many failed tasks are named (the rest are counted). */
const MAX_FAILED_TASKS = 5;

export async function buildMessage(store: Store, row: AlertOutboxRow, baseUrl: string | null): Promise<AlertMessage> {
  const project = (await store.projects.getById(row.projectId))?.name ?? `project ${row.projectId}`;
  const instance = row.workflowInstanceId === null ? null : await store.instances.get(row.workflowInstanceId);
  const workflow = instance?.workflowName ?? (row.workflowId === null ? null : await store.alerts.workflowName(row.workflowId));
  let task: string | null = null;
  let failed: TaskInstance[] = [];
  if (row.kind === "TASK_FAILED") task = row.state;
  if (row.taskInstanceId !== null && (row.kind === "TASK_WARN_TIMEOUT" || row.kind === "TASK_FAILED")) {
    const attempt = await store.taskInstances.get(row.taskInstanceId);
    if (attempt) {
      task = attempt.taskName;
      if (row.kind === "TASK_FAILED") failed = [attempt];
    }
  }
  let detail = row.message;
  if (row.workflowInstanceId !== null && (row.kind === "TASK_FAILED" ? failed.length === 0 : row.kind === "INSTANCE_END" && row.state === "FAILURE")) {
    failed = lastFailures(await store.taskInstances.listForInstance(row.workflowInstanceId), task);
  }
  if (failed.length > MAX_FAILED_TASKS) {
    detail = [detail, `${failed.length} tasks failed; the first ${MAX_FAILED_TASKS} are shown`].filter(Boolean).join("\n");
    failed = failed.slice(0, MAX_FAILED_TASKS);
  }
  const failedTasks: FailedTask[] = [];
  for (const t of failed) failedTasks.push({ name: t.taskName, attempt: t.attempt, state: t.state, message: t.message, logTail: await logTail(store, t) });
  const base = baseUrl?.replace(/\/+$/, "") ?? null;
  const link =
    base === null
      ? null
      : row.workflowInstanceId !== null
        ? `${base}/projects/${encodeURIComponent(project)}/runs/${row.workflowInstanceId}`
        : workflow !== null
          ? `${base}/projects/${encodeURIComponent(project)}/workflows/${encodeURIComponent(workflow)}`
          : `${base}/projects/${encodeURIComponent(project)}`;
  return {
    kind: row.kind,
    project,
    workflow,
    workflowInstanceId: row.workflowInstanceId,
    scheduleId: row.scheduleId,
    state: row.kind === "INSTANCE_END" ? row.state : null,
    task,
    failedTasks,
    detail,
    link,
    at: row.createdAt,
  };
}

/** The newest attempt of each task that ended FAILURE and was not superseded by a rerun (only `task`'s when given). */
function lastFailures(attempts: readonly TaskInstance[], task: string | null): TaskInstance[] {
  const newest = new Map<string, TaskInstance>();
  for (const a of attempts) {
    if (a.superseded || (task !== null && a.taskName !== task)) continue;
    const seen = newest.get(a.taskName);
    if (!seen || a.attempt > seen.attempt) newest.set(a.taskName, a);
  }
  return [...newest.values()].filter((a) => a.state === "FAILURE").sort((a, b) => a.id - b.id);
}

/** The last LOG_TAIL_BYTES of the attempt's log, from a line start; "" when it has none or it cannot be read. */
async function logTail(store: Store, t: TaskInstance): Promise<string> {
  try {
    const logs = attemptLogs({ chunks: store.logChunks, taskInstanceId: t.id, path: () => t.logPath });
    const head = await logs.read({ offset: 0, limit: 1, partial: true });
    if (!head.exists || head.size === 0) return "";
    const from = Math.max(0, head.size - LOG_TAIL_BYTES);
    const page = await logs.read({ offset: from, limit: LOG_TAIL_BYTES, partial: true });
    const text = page.text;
    // Started mid-line: drop the partial first line.
    return from > 0 && text.includes("\n") ? text.slice(text.indexOf("\n") + 1) : text;
  } catch {
    return "";
  }
}
