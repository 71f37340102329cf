// Task definitions: the fields every task has, then one strict object per task type with
// its own fields flat beside them, discriminated on `type`. Unknown fields are errors in
// every type, so a misspelt `scirpt` is reported instead of silently ignored.

import { z } from "zod";
import { durationSchema } from "./duration.ts";
import { checkExpression } from "./expression.ts";
import { localParamsSchema } from "./local-params.ts";
import {
  datasourceNameSchema,
  envSchema,
  flagSchema,
  headersSchema,
  intInRange,
  nonBlankText,
  paramsSchema,
  positiveDuration,
  PRIORITIES,
  projectNameSchema,
  taskNameSchema,
  TIMEOUT_STRATEGIES,
  workerGroupSchema,
  workflowNameSchema,
} from "./workflow-fields.ts";
import { describeValue } from "./zod-details.ts";

export const TASK_TYPES = ["shell", "python", "http", "sql", "sub_workflow", "conditions", "switch", "dependent", "noop"] as const;
export type TaskType = (typeof TASK_TYPES)[number];

const commonFields = {
  name: taskNameSchema,
  description: z.string().default(""),
  /** Names of upstream tasks; the task runs after all of them. */
  deps: z.array(z.string()).default([]),
  retries: intInRange(0, 100).default(0),
  retryInterval: durationSchema.default(60),
  timeout: positiveDuration("timeout").optional(),
  timeoutStrategy: z.enum(TIMEOUT_STRATEGIES).default("FAILED"),
  priority: z.enum(PRIORITIES).default("MEDIUM"),
  workerGroup: workerGroupSchema.default("default"),
  flag: flagSchema.default("YES"),
  delay: durationSchema.default(0),
  /** Local parameters; for sub_workflow tasks they are passed to the child workflow. */
  params: paramsSchema.default({}),
  /** Declared properties with a direction and a type (DolphinScheduler's shape; local-params.ts). Left out when none. */
  localParams: localParamsSchema.optional(),
};

const shellTask = z.strictObject({
  ...commonFields,
  type: z.literal("shell"),
  script: nonBlankText("script"),
  env: envSchema.default({}),
});

const pythonTask = z.strictObject({
  ...commonFields,
  type: z.literal("python"),
  script: nonBlankText("script"),
  env: envSchema.default({}),
});

export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;

// `${host}` and `$[yyyyMMdd]` are substituted at run time, so only the scheme can be checked then.
const httpUrl = z.string().superRefine((value, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: value });
  if (!/^https?:\/\//i.test(value)) return fail(`expected an http:// or https:// URL, got ${describeValue(value)}`);
  if (value.includes("${") || value.includes("$[")) return;
  if (!URL.canParse(value)) fail(`expected a valid URL, got ${describeValue(value)}`);
});

const httpStatus = intInRange(100, 599);

const httpTask = z
  .strictObject({
    ...commonFields,
    type: z.literal("http"),
    url: httpUrl,
    method: z.enum(HTTP_METHODS).default("GET"),
    headers: headersSchema.default({}),
    body: z.string().optional(),
    /** Accepted status codes; left out, any 2xx succeeds. */
    expectedStatus: z.union([httpStatus, z.array(httpStatus).min(1)]).optional(),
    /** The task fails unless the response body contains this text. */
    bodyContains: z.string().optional(),
    requestTimeout: positiveDuration("requestTimeout").optional(),
  })
  .superRefine((task, ctx) => {
    if (task.body !== undefined && (task.method === "GET" || task.method === "HEAD")) {
      ctx.addIssue({ code: "custom", path: ["body"], message: `a ${task.method} request cannot have a body; use POST, PUT or PATCH, or remove "body"` });
    }
  });

const sqlTask = z.strictObject({
  ...commonFields,
  type: z.literal("sql"),
  datasource: datasourceNameSchema,
  sql: nonBlankText("sql"),
  sqlType: z.enum(["QUERY", "NON_QUERY"]).optional(),
});

const subWorkflowTask = z.strictObject({
  ...commonFields,
  type: z.literal("sub_workflow"),
  workflow: workflowNameSchema,
  /** Left out: the project of the parent workflow. */
  project: projectNameSchema.optional(),
});

const relation = z.enum(["AND", "OR"]).default("AND");

const conditionsTask = z.strictObject({
  ...commonFields,
  type: z.literal("conditions"),
  relation,
  /** Upstream task states to test; left out, every dep must be SUCCESS. */
  dependOn: z.array(z.strictObject({ task: taskNameSchema, state: z.enum(["SUCCESS", "FAILURE"]) })).optional(),
  /** Downstream tasks run when the condition holds / does not; each lists this task in its deps. */
  successNext: z.array(taskNameSchema).default([]),
  failedNext: z.array(taskNameSchema).default([]),
});

// Syntax is checked when the workflow is saved, so a typo is a 400 then rather than a failed run.
const switchCondition = nonBlankText("when").superRefine((value, ctx) => {
  if (value.trim() === "") return; // reported by nonBlankText
  const problem = checkExpression(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem.message, input: value });
});

const switchTask = z.strictObject({
  ...commonFields,
  type: z.literal("switch"),
  cases: z.array(z.strictObject({ when: switchCondition, next: taskNameSchema })).min(1),
  default: taskNameSchema.optional(),
});

// DolphinScheduler's dependent date values (DependentUtils.getDateIntervalList), by cycle.
export const DEPENDENT_DATE_VALUES = {
  hour: ["currentHour", "last1Hour", "last2Hours", "last3Hours", "last24Hours"],
  day: ["today", "last1Days", "last2Days", "last3Days", "last7Days"],
  week: ["thisWeek", "lastWeek", "lastMonday", "lastTuesday", "lastWednesday", "lastThursday", "lastFriday", "lastSaturday", "lastSunday"],
  month: ["thisMonth", "thisMonthBegin", "thisMonthEnd", "lastMonth", "lastMonthBegin", "lastMonthEnd"],
} as const;

type Cycle = keyof typeof DEPENDENT_DATE_VALUES;
export type DependentDateValue = (typeof DEPENDENT_DATE_VALUES)[Cycle][number];
const CYCLES = Object.keys(DEPENDENT_DATE_VALUES) as [Cycle, ...Cycle[]];
const ALL_DATE_VALUES = Object.values(DEPENDENT_DATE_VALUES).flat() as [DependentDateValue, ...DependentDateValue[]];

const dependItem = z
  .strictObject({
    /** Left out: the project of this workflow. */
    project: projectNameSchema.optional(),
    workflow: workflowNameSchema,
    /** Left out: the whole workflow instance must have succeeded. */
    task: taskNameSchema.optional(),
    cycle: z.enum(CYCLES),
    dateValue: z.enum(ALL_DATE_VALUES),
  })
  .superRefine((item, ctx) => {
    const allowed: readonly string[] = DEPENDENT_DATE_VALUES[item.cycle];
    if (!allowed.includes(item.dateValue)) {
      ctx.addIssue({
        code: "custom",
        path: ["dateValue"],
        message: `"${item.dateValue}" is not a ${item.cycle} date value; for cycle ${item.cycle} use one of ${allowed.join(", ")}`,
      });
    }
  });

const dependentTask = z.strictObject({
  ...commonFields,
  type: z.literal("dependent"),
  relation,
  dependOn: z.array(dependItem).min(1),
  checkInterval: positiveDuration("checkInterval", 1).default(10),
});

const noopTask = z.strictObject({ ...commonFields, type: z.literal("noop") });

export const taskDefinitionSchema = z.discriminatedUnion("type", [
  shellTask,
  pythonTask,
  httpTask,
  sqlTask,
  subWorkflowTask,
  conditionsTask,
  switchTask,
  dependentTask,
  noopTask,
]);

export type TaskDefinition = z.output<typeof taskDefinitionSchema>;
export type ShellTask = z.output<typeof shellTask>;
export type PythonTask = z.output<typeof pythonTask>;
export type HttpTask = z.output<typeof httpTask>;
export type SqlTask = z.output<typeof sqlTask>;
export type SubWorkflowTask = z.output<typeof subWorkflowTask>;
export type ConditionsTask = z.output<typeof conditionsTask>;
export type SwitchTask = z.output<typeof switchTask>;
export type DependentTask = z.output<typeof dependentTask>;
export type NoopTask = z.output<typeof noopTask>;
export type TaskOfType<T extends TaskType> = Extract<TaskDefinition, { type: T }>;
