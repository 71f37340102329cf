// Parameters a task runs with, resolved by the master when it creates the attempt and stored
// on the attempt row (so a worker, a retry and the API all see the same values), with
// DolphinScheduler's priority, highest first: startup params > the task's own params (its
// `params` and declared IN `localParams`) > upstream OUT params > workflow global params >
// project params > built-ins. `${}` references and `$[...]` inside values are resolved here
// (core/params resolveParams).
//
// Upstream OUT params accumulate along the DAG (DS's var pool): a task's pool is the merge of
// its direct predecessors' pools plus its own OUT params; a task receives its direct
// predecessors' pools, merged by mergeUpstreamOut (a non-empty value wins, then the
// predecessor that finished first).
//
// Two built-ins are only known on the worker: `system.task.instance.id` (the attempt row's id
// does not exist before the insert commits) and `system.task.execute.path`. The worker adds
// them before substitution (worker/attempt-params.ts); a value that refers to them keeps the
// `${…}` here and is completed there.

import type { DagGraph } from "../core/dag.ts";
import { predecessors } from "../core/dag.ts";
import { ValidationError } from "../core/errors.ts";
import { BUILTIN, builtinParams, checkTypedValue, mergeUpstreamOut, resolveParams, type TimeContext, type UpstreamOut } from "../core/params/index.ts";
import type { TaskDefinition, WorkflowDefinition } from "../core/workflow-schema.ts";

/** Output keys the engine keeps for itself (a switch/conditions decision); never passed downstream. */
export const BRANCH_KEY = "porpoise.branch";

export class VarPool {
  private readonly outputs = new Map<number, { params: Record<string, string>; finishedAt: Date | null }>();
  private readonly memo = new Map<number, Record<string, string>>();

  constructor(private readonly graph: DagGraph) {}

  /** Whether any task of the run has passed an OUT param on (until then every pool is empty). */
  anyOutput = false;

  setOutput(index: number, output: Record<string, string> | null, finishedAt: Date | null): void {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(output ?? {})) if (k !== BRANCH_KEY) clean[k] = v;
    if (Object.keys(clean).length > 0) this.anyOutput = true;
    this.outputs.set(index, { params: clean, finishedAt });
    this.memo.delete(index);
  }

  /** What a task receives from upstream: one entry per direct predecessor, with its pool and end time. */
  upstreamOf(index: number): UpstreamOut[] {
    return Array.from(predecessors(this.graph, index), (p) => ({
      taskName: this.graph.names[p] ?? String(p),
      finishedAt: this.outputs.get(p)?.finishedAt ?? null,
      params: this.poolOf(p),
    }));
  }

  private poolOf(index: number): Record<string, string> {
    const known = this.memo.get(index);
    if (known) return known;
    // Iterative post-order over the ancestors not memoised yet (a 10,000-task chain must not recurse).
    const stack: [number, boolean][] = [[index, false]];
    while (stack.length > 0) {
      const [i, expanded] = stack.pop()!;
      if (this.memo.has(i)) continue;
      if (!expanded) {
        stack.push([i, true]);
        for (const p of predecessors(this.graph, i)) if (!this.memo.has(p)) stack.push([p, false]);
        continue;
      }
      const ups: UpstreamOut[] = Array.from(predecessors(this.graph, i), (p) => ({ taskName: "", finishedAt: this.outputs.get(p)?.finishedAt ?? null, params: this.memo.get(p)! }));
      const pool = mergeOrdered(ups);
      Object.assign(pool, this.outputs.get(i)?.params);
      this.memo.set(i, pool);
    }
    return this.memo.get(index)!;
  }
}

function mergeOrdered(ups: UpstreamOut[]): Record<string, string> {
  if (ups.length === 0) return {};
  if (ups.length === 1) return { ...ups[0]!.params };
  return mergeUpstreamOut(ups);
}

const BUILTIN_NAMES = new Set<string>(Object.values(BUILTIN));

/**
 * What a sub_workflow passes to its child as startup params: its resolved params without the
 * built-ins, which the child computes for itself (its own instance id, task names…). Only
 * `system.datetime` stays, so the child's dates and `$[...]` use the parent's base time, as a
 * DolphinScheduler sub-process runs on its parent's schedule time.
 */
export function paramsForChild(params: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) if (name === BUILTIN.datetime || !BUILTIN_NAMES.has(name)) out[name] = value;
  return out;
}

/** A task's declared IN properties as local params (a value in `params` of the same name wins; the schema refuses both). */
export function declaredLocal(task: TaskDefinition): Record<string, string> {
  const local: Record<string, string> = {};
  for (const p of task.localParams ?? []) if (p.direct === "IN") local[p.prop] = p.value;
  return { ...local, ...task.params };
}

export interface TaskParamsInput {
  definition: WorkflowDefinition;
  task: TaskDefinition;
  workflowInstanceId: number;
  projectName: string;
  project: Readonly<Record<string, string>>;
  startup: Readonly<Record<string, string>>;
  upstreamOut: readonly UpstreamOut[];
  clock: TimeContext;
  /** instanceBuiltins(...) of this instance and clock, when the caller keeps them (they only depend on those). */
  builtins?: Readonly<Record<string, string>>;
}

type InstanceBuiltinsInput = Pick<TaskParamsInput, "definition" | "workflowInstanceId" | "projectName" | "clock">;

/** The built-ins every task of one run shares (all but the task's name); the worker adds the task instance id. */
export function instanceBuiltins(input: InstanceBuiltinsInput): Record<string, string> {
  const builtins = builtinParams({
    baseTime: input.clock.baseTime,
    timezone: input.clock.timezone,
    taskInstanceId: "",
    taskName: "",
    workflowInstanceId: input.workflowInstanceId,
    workflowName: input.definition.name,
    projectName: input.projectName,
  });
  delete builtins[BUILTIN.taskInstanceId]; // known on the worker only (see above)
  delete builtins[BUILTIN.taskDefinitionName];
  return builtins;
}

/**
 * The resolved params of one attempt; throws ValidationError (naming the param) when a value
 * cannot be resolved or a typed IN property does not hold its type.
 */
export function resolveTaskParams(input: TaskParamsInput): Record<string, string> {
  const builtins = { ...(input.builtins ?? instanceBuiltins(input)), [BUILTIN.taskDefinitionName]: input.task.name };
  const resolved = resolveParams({
    builtins,
    project: input.project,
    global: input.definition.params,
    upstreamOut: input.upstreamOut,
    local: declaredLocal(input.task),
    startup: input.startup,
    baseTime: input.clock.baseTime,
    timezone: input.clock.timezone,
  });
  for (const p of input.task.localParams ?? []) {
    if (p.direct !== "IN") continue;
    const value = resolved[p.prop] ?? "";
    const check = checkTypedValue(p.type, value);
    if (!check.ok) {
      const message = `param "${p.prop}" is declared ${p.type}: ${check.message}`;
      throw new ValidationError(message, [{ path: `localParams.${p.prop}`, message: check.message }]);
    }
  }
  return resolved;
}
