// Restart from stored states (recover-failed, rerun, resume after a master change): what
// each task's previous attempt means for the new run. Pure; DagState applies the plan in order.

import type { DagGraph } from "../core/dag.ts";
import { countsAsSuccess } from "../core/states.ts";
import type { TaskDefinition } from "../core/task-types.ts";
import type { DagRunOptions } from "./dag-actions.ts";
import { ACTIVE_STATES, BLOCK, FAIL, NOT_IN_RUN } from "./dag-codes.ts";

export type PreviousStep =
  /** Only the attempt number carries over: the task runs (or is decided) again. */
  | { kind: "again"; i: number; attempt: number }
  /** It succeeded: a conditions/switch task keeps the branch it chose (`chosen`). */
  | { kind: "succeeded"; i: number; attempt: number; chosen?: Set<number> }
  /** Still alive in the store: adopted as running. */
  | { kind: "active"; i: number; attempt: number }
  /** It failed (FAIL, with the retries it used up) or was killed (BLOCK). */
  | { kind: "failed"; i: number; attempt: number; outcome: number; failures?: number };

/** One step per previous attempt of a task in the run, in the order of `opts.previous`. */
export function planPrevious(graph: DagGraph, tasks: readonly TaskDefinition[], status: Uint8Array, targets: ReadonlyMap<number, unknown>, opts: DagRunOptions): PreviousStep[] {
  const previous = opts.previous;
  if (!previous) return [];
  const rerun = new Set<string>(opts.rerunStates ?? []);
  const steps: PreviousStep[] = [];
  for (const [name, prev] of previous) {
    const i = graph.indexOf.get(name);
    if (i === undefined || status[i] === NOT_IN_RUN) continue;
    const attempt = prev.attempt;
    const task = tasks[i]!;
    if (countsAsSuccess(prev.state)) {
      if (targets.has(i)) {
        if (!prev.branch) {
          steps.push({ kind: "again", i, attempt }); // decided again when it is ready
          continue;
        }
        const chosen = new Set(prev.branch.map((t) => graph.indexOf.get(t)).filter((j) => j !== undefined));
        steps.push({ kind: "succeeded", i, attempt, chosen });
      } else steps.push({ kind: "succeeded", i, attempt });
    } else if (rerun.has(prev.state) || prev.state === "PAUSE" || prev.state === "NEED_FAULT_TOLERANCE") {
      steps.push({ kind: "again", i, attempt });
    } else if (ACTIVE_STATES.has(prev.state)) {
      steps.push({ kind: "active", i, attempt });
    } else if (prev.state === "FAILURE") {
      steps.push({ kind: "failed", i, attempt, outcome: FAIL, failures: Math.min(prev.attempt, task.retries + 1) });
    } else steps.push({ kind: "failed", i, attempt, outcome: BLOCK });
  }
  return steps;
}
