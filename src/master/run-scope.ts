// Which tasks a run includes when it starts from chosen tasks (DolphinScheduler's start
// nodes + task depend type): TASK_ONLY just those, TASK_PRE those and everything upstream
// of them, TASK_POST those and everything downstream. O(V + E), iterative.

import { predecessors, successors, type DagGraph } from "../core/dag.ts";
import { ValidationError, type ErrorDetail } from "../core/errors.ts";
import { closestName } from "../core/zod-details.ts";
import type { DependType } from "./dag-actions.ts";

/** 1 for each task in the run. Without start tasks every task is in it. */
export function runScope(graph: DagGraph, startTasks: readonly string[] | undefined, dependType: DependType = "TASK_POST"): Uint8Array {
  const inRun = new Uint8Array(graph.size);
  if (startTasks === undefined) return inRun.fill(1);
  const details: ErrorDetail[] = [];
  const stack: number[] = [];
  startTasks.forEach((name, k) => {
    const i = graph.indexOf.get(name);
    if (i === undefined) {
      const near = closestName(name, graph.indexOf.keys());
      details.push({ path: `startTasks.${k}`, message: `unknown task "${name}"${near ? ` (did you mean "${near}"?)` : ""}; name a task of this workflow` });
    } else if (!inRun[i]) {
      inRun[i] = 1;
      stack.push(i);
    }
  });
  if (details.length > 0) throw new ValidationError("startTasks names tasks this workflow does not have", details);
  if (startTasks.length === 0) throw new ValidationError("startTasks is empty; leave it out to run every task", [{ path: "startTasks", message: "name at least one task" }]);
  if (dependType === "TASK_ONLY") return inRun;
  const next = dependType === "TASK_PRE" ? predecessors : successors;
  while (stack.length > 0) {
    for (const j of next(graph, stack.pop()!)) {
      if (!inRun[j]) {
        inRun[j] = 1;
        stack.push(j);
      }
    }
  }
  return inRun;
}
