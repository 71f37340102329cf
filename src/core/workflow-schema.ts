// The workflow definition format, one zod schema shared by the API and the CLI (JSON or
// YAML text goes through workflow-text.ts first). The schema alone is complete: besides
// fields, it checks the graph (duplicates, unknown deps, self-loops, cycles) and the
// cross-references of conditions/switch/sub_workflow tasks, so a caller that only uses
// `workflowDefinitionSchema` misses nothing.

import { z } from "zod";
import { validateDag, type DagTask } from "./dag.ts";
import { checkLocalParams } from "./local-params.ts";
import { positiveDuration, EXECUTION_TYPES, paramsSchema, workflowNameSchema } from "./workflow-fields.ts";
import { taskDefinitionSchema, type TaskDefinition } from "./task-types.ts";
import { closestName, invalidInput, readableErrorMap, zodIssuesToDetails } from "./zod-details.ts";
import type { ErrorDetail } from "./errors.ts";

export * from "./task-types.ts";
export { EXECUTION_TYPES, PRIORITIES, TIMEOUT_STRATEGIES } from "./workflow-fields.ts";

export const MAX_TASKS = 10_000;

type RefineContext = z.core.$RefinementCtx<unknown>;

function toSegments(path: string): (string | number)[] {
  return path === "" ? [] : path.split(".").map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function report(ctx: RefineContext, detail: ErrorDetail): void {
  ctx.addIssue({ code: "custom", path: toSegments(detail.path), message: detail.message });
}

// Each suggestion scans every task name; a file with thousands of bad references gets plain messages after the first few.
const MAX_SUGGESTIONS = 20;

function unknownTask(name: string, names: Map<string, number>, budget: { suggestions: number }): string {
  const near = budget.suggestions-- > 0 ? closestName(name, names.keys()) : undefined;
  return `unknown task "${name}"${near ? ` (did you mean "${near}"?)` : ""}; name a task of this workflow`;
}

// Branch targets of conditions/switch tasks are their downstream tasks: the branch
// decides which of them run, so each must wait for the deciding task through `deps`.
function checkBranchTarget(
  tasks: readonly TaskDefinition[],
  names: Map<string, number>,
  budget: { suggestions: number },
  from: number,
  target: string,
  path: string,
): ErrorDetail | null {
  const j = names.get(target);
  const source = tasks[from]!;
  if (j === undefined) return { path, message: unknownTask(target, names, budget) };
  if (j === from) return { path, message: `"${source.name}" cannot branch to itself; name a downstream task` };
  if (!tasks[j]!.deps.includes(source.name)) {
    return {
      path,
      message: `branch target "${target}" must list "${source.name}" in its deps (it runs only when "${source.name}" chooses it); add "${source.name}" to tasks.${j}.deps`,
    };
  }
  return null;
}

/** Cross-references that are not plain deps: condition/switch branches, conditions' tested tasks, sub-workflow self-calls. */
export function checkTaskReferences(workflowName: string, tasks: readonly TaskDefinition[]): ErrorDetail[] {
  const names = new Map<string, number>();
  tasks.forEach((task, i) => names.has(task.name) || names.set(task.name, i));
  const out: ErrorDetail[] = [];
  const budget = { suggestions: MAX_SUGGESTIONS };
  const push = (detail: ErrorDetail | null) => detail && out.push(detail);
  tasks.forEach((task, i) => {
    const at = `tasks.${i}`;
    switch (task.type) {
      case "conditions":
        task.dependOn?.forEach((item, k) => {
          const path = `${at}.dependOn.${k}.task`;
          if (!names.has(item.task)) push({ path, message: unknownTask(item.task, names, budget) });
          else if (!task.deps.includes(item.task)) {
            push({ path, message: `"${item.task}" is not a dep of "${task.name}"; a conditions task tests its own deps: add "${item.task}" to ${at}.deps` });
          }
        });
        task.successNext.forEach((target, k) => push(checkBranchTarget(tasks, names, budget, i, target, `${at}.successNext.${k}`)));
        task.failedNext.forEach((target, k) => push(checkBranchTarget(tasks, names, budget, i, target, `${at}.failedNext.${k}`)));
        break;
      case "switch":
        task.cases.forEach((c, k) => push(checkBranchTarget(tasks, names, budget, i, c.next, `${at}.cases.${k}.next`)));
        if (task.default !== undefined) push(checkBranchTarget(tasks, names, budget, i, task.default, `${at}.default`));
        break;
      case "sub_workflow":
        if (task.project === undefined && task.workflow === workflowName) {
          push({ path: `${at}.workflow`, message: `workflow "${workflowName}" cannot run itself as a sub-workflow` });
        }
        break;
    }
  });
  return out;
}

export const workflowDefinitionSchema = z
  .strictObject({
    name: workflowNameSchema,
    description: z.string().default(""),
    /** Global parameters, visible to every task. */
    params: paramsSchema.default({}),
    timeout: positiveDuration("timeout").optional(),
    executionType: z.enum(EXECUTION_TYPES).default("PARALLEL"),
    tasks: z.array(taskDefinitionSchema).min(1, { error: "a workflow needs at least one task" }).max(MAX_TASKS, {
      error: (issue) => `a workflow has at most ${MAX_TASKS} tasks, got ${Array.isArray(issue.input) ? issue.input.length : "more"}`,
    }),
  })
  .superRefine((definition, ctx) => {
    for (const detail of validateDag(definition.tasks)) report(ctx, detail);
    for (const detail of checkTaskReferences(definition.name, definition.tasks)) report(ctx, detail);
    for (const detail of checkLocalParams(definition.tasks)) report(ctx, detail);
  });

export type WorkflowDefinition = z.output<typeof workflowDefinitionSchema>;
/** What a person writes: durations as strings, optional fields left out. */
export type WorkflowDefinitionInput = z.input<typeof workflowDefinitionSchema>;
export type ExecutionType = WorkflowDefinition["executionType"];

// When fields are wrong zod skips the refinement above, so graph problems would only show
// up on the next attempt. This pass reads names and deps straight from the raw input to
// report them in the same answer; it gives up when the names themselves are unusable.
function rawGraphDetails(input: unknown): ErrorDetail[] {
  const tasks = (input as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) return [];
  const dagTasks: DagTask[] = [];
  for (const task of tasks) {
    const name = (task as { name?: unknown } | null)?.name;
    if (typeof name !== "string") return [];
    const deps = (task as { deps?: unknown }).deps;
    dagTasks.push({ name, deps: Array.isArray(deps) ? deps.filter((d): d is string => typeof d === "string") : [] });
  }
  return validateDag(dagTasks);
}

/** Parses and normalises a workflow definition; throws ValidationError listing every problem found. */
export function parseWorkflowDefinition(input: unknown): WorkflowDefinition {
  const tasks = (input as { tasks?: unknown } | null)?.tasks;
  if (Array.isArray(tasks) && tasks.length > MAX_TASKS) {
    // Checked before zod walks 10,000+ task objects for nothing.
    throw invalidInput("workflow definition", [{ path: "tasks", message: `a workflow has at most ${MAX_TASKS} tasks, got ${tasks.length}` }]);
  }
  const result = workflowDefinitionSchema.safeParse(input, { error: readableErrorMap });
  if (result.success) return result.data;
  const details = zodIssuesToDetails(result.error);
  const seen = new Set(details.map((d) => `${d.path}\n${d.message}`));
  for (const detail of rawGraphDetails(input)) {
    if (!seen.has(`${detail.path}\n${detail.message}`)) details.push(detail);
  }
  throw invalidInput("workflow definition", details, result.error);
}
