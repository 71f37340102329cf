// Built-in parameters every task sees (DolphinScheduler's BusinessTimeUtils and
// CuringParamsServiceImpl.setBuiltInParamsMap). The base time is the caller's choice, as in
// DS: the schedule time for scheduled runs and backfill (complement) runs, the start time of
// the workflow instance for manual runs, so a rerun or a recovery computes the same dates.
// Dates are read on the calendar of `timezone` (the schedule's zone for scheduled runs).

import { formatWall } from "./date-format.ts";
import { addDays, assertInstant, assertTimezone, toWall } from "./zoned-time.ts";

export const BUILTIN = {
  bizDate: "system.biz.date",
  bizCurDate: "system.biz.curdate",
  datetime: "system.datetime",
  taskExecutePath: "system.task.execute.path",
  taskInstanceId: "system.task.instance.id",
  taskDefinitionName: "system.task.definition.name",
  workflowInstanceId: "system.workflow.instance.id",
  workflowDefinitionName: "system.workflow.definition.name",
  projectName: "system.project.name",
} as const;

export interface BuiltinInput {
  baseTime: Date;
  timezone: string;
  taskInstanceId: number | string;
  taskName: string;
  workflowInstanceId: number | string;
  workflowName: string;
  projectName: string;
  /** The task's working directory on the worker; left out when not known yet (DS does the same). */
  executePath?: string | null;
}

export function builtinParams(input: BuiltinInput): Record<string, string> {
  assertTimezone(input.timezone);
  assertInstant(input.baseTime.getTime(), "the base time");
  const day = toWall(input.baseTime.getTime(), input.timezone);
  const params: Record<string, string> = {
    [BUILTIN.bizDate]: formatWall(addDays(day, -1), "yyyyMMdd"),
    [BUILTIN.bizCurDate]: formatWall(day, "yyyyMMdd"),
    [BUILTIN.datetime]: formatWall(day, "yyyyMMddHHmmss"),
    [BUILTIN.taskInstanceId]: String(input.taskInstanceId),
    [BUILTIN.taskDefinitionName]: input.taskName,
    [BUILTIN.workflowInstanceId]: String(input.workflowInstanceId),
    [BUILTIN.workflowDefinitionName]: input.workflowName,
    [BUILTIN.projectName]: input.projectName,
  };
  if (input.executePath) params[BUILTIN.taskExecutePath] = input.executePath;
  return params;
}
