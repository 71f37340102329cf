// What the worker adds to the params the master resolved: the two built-ins only it knows —
// `system.task.instance.id` (the attempt row's id, assigned when the master's insert committed)
// and `system.task.execute.path` (the attempt's working directory) — and the check of declared
// OUT properties against their types when the attempt's OUT params arrive.

import { BUILTIN, checkTypedValue } from "../core/params/index.ts";
import type { TaskDefinition } from "../core/workflow-schema.ts";
import { substituteParams } from "./substitute.ts";
import type { TaskResult } from "./task-types/types.ts";

/**
 * The stored params plus the worker-side built-ins; a value that refers to them (`${system.task.execute.path}/out`)
 * is completed. A higher layer that set one of these names on purpose keeps its value.
 */
export function withWorkerBuiltins(stored: Readonly<Record<string, string>>, known: { taskInstanceId: number; executePath: string }): Record<string, string> {
  const builtins: Record<string, string> = {};
  if (!Object.hasOwn(stored, BUILTIN.taskInstanceId)) builtins[BUILTIN.taskInstanceId] = String(known.taskInstanceId);
  if (!Object.hasOwn(stored, BUILTIN.taskExecutePath)) builtins[BUILTIN.taskExecutePath] = known.executePath;
  const params: Record<string, string> = { ...builtins };
  for (const [name, value] of Object.entries(stored)) params[name] = value.includes("${system.task.") ? substituteParams(value, builtins) : value;
  return params;
}

/** A SUCCESS whose declared OUT properties do not hold their types becomes a FAILURE naming the property. */
export function checkDeclaredOut(task: TaskDefinition, result: TaskResult): TaskResult {
  if (result.state !== "SUCCESS" || !task.localParams) return result;
  const problems: string[] = [];
  for (const p of task.localParams) {
    if (p.direct !== "OUT" || !Object.hasOwn(result.outParams, p.prop)) continue;
    const check = checkTypedValue(p.type, result.outParams[p.prop]!);
    if (!check.ok) problems.push(`OUT param "${p.prop}" is declared ${p.type}: ${check.message}`);
  }
  if (problems.length === 0) return result;
  return { ...result, state: "FAILURE", message: `${problems.join("; ")}; fix the value the task sets with \${setValue(...)} or the declared type` };
}
