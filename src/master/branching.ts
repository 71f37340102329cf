// The two task types the master runs itself, without a worker: conditions and switch.
// Each returns the names of the branch targets it chose; targets it did not choose are
// skipped by the DAG state, together with everything reachable only through them.

import { evaluateExpression, ExpressionError } from "../core/expression.ts";
import type { ConditionsTask, SwitchTask } from "../core/task-types.ts";

/** How an upstream task ended, as a conditions task sees it; null for skipped or not run. */
export type UpstreamOutcome = "SUCCESS" | "FAILURE" | null;

export interface BranchDecision {
  readonly ok: boolean;
  readonly chosen: readonly string[];
  readonly message: string;
}

/**
 * DS CONDITIONS: each `dependOn` item holds when that upstream task ended in the named
 * state; items combine by `relation` (AND/OR). Without `dependOn`, every dep that ran
 * must have succeeded. Holds → `successNext` runs, else `failedNext`.
 */
export function decideConditions(task: ConditionsTask, outcomeOf: (name: string) => UpstreamOutcome): BranchDecision {
  let holds: boolean;
  if (task.dependOn && task.dependOn.length > 0) {
    const results = task.dependOn.map((item) => outcomeOf(item.task) === item.state);
    holds = task.relation === "OR" ? results.some(Boolean) : results.every(Boolean);
  } else {
    holds = task.deps.every((dep) => outcomeOf(dep) !== "FAILURE");
  }
  const chosen = holds ? task.successNext : task.failedNext;
  return { ok: true, chosen, message: `condition ${holds ? "holds" : "does not hold"}: running ${holds ? "successNext" : "failedNext"} [${chosen.join(", ")}]` };
}

/** First case whose expression holds, else `default`; an expression that cannot be evaluated fails the task. */
export function decideSwitch(task: SwitchTask, params: Readonly<Record<string, string>>): BranchDecision {
  for (let k = 0; k < task.cases.length; k++) {
    const c = task.cases[k]!;
    try {
      if (evaluateExpression(c.when, params)) return { ok: true, chosen: [c.next], message: `case ${k + 1} (${c.when}) holds: running ${c.next}` };
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      return { ok: false, chosen: [], message: `case ${k + 1} (${c.when}): ${error.message}` };
    }
  }
  if (task.default !== undefined) return { ok: true, chosen: [task.default], message: `no case holds: running the default ${task.default}` };
  return { ok: true, chosen: [], message: "no case holds and there is no default: every branch is skipped" };
}

/** Every task a conditions/switch task may choose, so the ones not chosen can be skipped. */
export function branchTargets(task: ConditionsTask | SwitchTask): string[] {
  if (task.type === "conditions") return [...task.successNext, ...task.failedNext];
  return [...task.cases.map((c) => c.next), ...(task.default === undefined ? [] : [task.default])];
}
