// Response shapes of workflow and task instances (views.ts has the rest). Fencing fields
// (epoch, slot, dispatch token) and the worker's log path stay inside: the dispatch token
// is what a worker proves its completion with, and the path is a detail of the worker host.

import { z } from "zod";
import { workDirFromLogPath } from "../core/attempt-paths.ts";
import { BUILTIN } from "../core/params/index.ts";
import { TASK_STATES, WORKFLOW_STATES } from "../core/states.ts";
import type { NamedWorkflowInstance, TaskInstance } from "../store/store.ts";

const date = z.string().meta({ format: "date-time" });
const isoOrNull = (d: Date | null) => (d === null ? null : d.toISOString());
const strings = z.record(z.string(), z.string());

export const workflowInstanceView = z.object({
  id: z.number().int(),
  project: z.string().describe("the project's name"),
  workflowId: z.number().int(),
  workflowName: z.string().describe("the workflow's current name"),
  workflowVersion: z.number().int(),
  state: z.enum(WORKFLOW_STATES),
  runType: z.string(),
  priority: z.string(),
  workerGroup: z.string(),
  failureStrategy: z.string(),
  params: strings.describe("run parameters as given to this run"),
  startTasks: z.array(z.string()).nullable(),
  dependType: z.string().nullable(),
  runTimes: z.number().int().describe("how many times the instance ran (rerun and recover add one)"),
  scheduleTime: date.nullable(),
  timezone: z.string().describe("IANA zone of the run's built-in time params (system.biz.date, $[...]): the schedule's for scheduled and backfill runs, else UTC; fixed when the run is created"),
  message: z
    .string()
    .nullable()
    .describe("why the instance ended the way it did when its state does not say: discarded by SERIAL_DISCARD / SERIAL_PRIORITY (naming the instance that caused it), a refused control, …"),
  pendingControl: z
    .enum(["resume", "rerun", "recover-failed"])
    .nullable()
    .describe("the control that submitted it again and applies when it starts (e.g. after waiting in SERIAL_WAIT); null once it runs"),
  parentTaskInstanceId: z.number().int().nullable().describe("the sub_workflow task that started it, if any"),
  depth: z.number().int().describe("sub_workflow nesting: 0 for a run started by a user, a schedule or a backfill; a child is its parent's + 1 (at most 10)"),
  dryRun: z.boolean(),
  host: z.string().nullable(),
  startTime: date.nullable(),
  endTime: date.nullable(),
  createdAt: date,
  updatedAt: date,
});

export function toWorkflowInstance(wi: NamedWorkflowInstance, project: string): z.input<typeof workflowInstanceView> {
  return {
    ...wi,
    project,
    scheduleTime: isoOrNull(wi.scheduleTime),
    // The column keeps the last control; it matters only until the instance runs.
    pendingControl: wi.state === "SERIAL_WAIT" || wi.state === "SUBMITTED_SUCCESS" ? wi.pendingControl : null,
    startTime: isoOrNull(wi.startTime),
    endTime: isoOrNull(wi.endTime),
    createdAt: wi.createdAt.toISOString(),
    updatedAt: wi.updatedAt.toISOString(),
  };
}

export const taskInstanceView = z.object({
  id: z.number().int().describe("this attempt's id (each retry is a new attempt with its own id)"),
  workflowInstanceId: z.number().int(),
  taskName: z.string(),
  taskType: z.string(),
  state: z.enum(TASK_STATES),
  attempt: z.number().int().describe("1 for the first run, 2 for the first retry, …"),
  workerGroup: z.string(),
  priority: z.string(),
  host: z.string().nullable(),
  submitTime: date.nullable(),
  startTime: date.nullable(),
  endTime: date.nullable(),
  notBefore: date.nullable().describe("not started before this time (delay, retry interval)"),
  params: strings.describe("the parameters the attempt ran with"),
  outParams: strings.nullable().describe("OUT params the attempt produced (setValue lines, sql rows, http body)"),
  exitCode: z.number().int().nullable(),
  message: z.string().nullable(),
  warning: z.string().nullable().describe("set when a timeout with strategy WARN passed while it ran (it went on); also an alert event, sent to the alert policies that want task-warn-timeout"),
  superseded: z.boolean().describe("an attempt of a run before the instance's latest rerun: history only, it no longer counts"),
  createdAt: date,
  updatedAt: date,
});

/**
 * The params as the attempt saw them: the stored ones plus the two built-ins the worker adds when it
 * runs it (worker/attempt-params.ts) — the id, and the working directory when the attempt has one
 * (a noop runs in no directory). A value a higher layer set on purpose wins, as on the worker.
 */
function paramsAsRun(ti: TaskInstance, workRoot: string | null): Record<string, string> {
  const builtins: Record<string, string> = { [BUILTIN.taskInstanceId]: String(ti.id) };
  const workDir = ti.logPath ? workDirFromLogPath(ti.logPath, ti, workRoot ?? undefined) : null;
  if (workDir) builtins[BUILTIN.taskExecutePath] = workDir;
  return { ...builtins, ...ti.params };
}

/** `workRoot`: the worker's --work-dir when the API runs beside it (ApiDeps.workDir). */
export function toTaskInstance(ti: TaskInstance, workRoot: string | null = null): z.input<typeof taskInstanceView> {
  return {
    ...ti,
    params: paramsAsRun(ti, workRoot),
    outParams: ti.output,
    submitTime: isoOrNull(ti.submitTime),
    startTime: isoOrNull(ti.startTime),
    endTime: isoOrNull(ti.endTime),
    notBefore: isoOrNull(ti.notBefore),
    createdAt: ti.createdAt.toISOString(),
    updatedAt: ti.updatedAt.toISOString(),
  };
}

export const workflowInstanceDetailView = workflowInstanceView.extend({
  taskCount: z
    .number()
    .int()
    .nullable()
    .describe("tasks in the workflow version this instance runs; once it ended, those with no attempt did not run (forbidden, branch not taken, outside startTasks, or not reached after a failure)"),
  tasks: z.array(taskInstanceView).describe("every attempt of every task, by task name then attempt"),
});

export const controlResultView = z.object({ id: z.number().int(), state: z.string() });

export const logPageView = z.object({
  text: z.string().describe("whole lines (a line longer than limit comes in pieces)"),
  offset: z.number().int().describe("byte offset this page starts at"),
  nextOffset: z.number().int().describe("pass as offset to read on"),
  size: z.number().int().describe("the file's size in bytes when read"),
  ended: z.boolean().describe("the attempt has ended: nothing more will be written"),
});
