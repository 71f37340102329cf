// How a (re)started instance's DagState is set up from the stored attempts, per start mode:
// a fresh start, a restart after a crash (nothing final reruns), resume (paused and killed
// tasks rerun), recover-failed (failed/killed rerun, successes kept), rerun (everything
// again; attempt numbers continue after the stored ones).

import type { TaskState } from "../core/states.ts";
import type { TaskInstance, WorkflowInstance } from "../store/store.ts";
import { RERUN_STATES, type DagRunOptions, type PreviousAttempt } from "./dag-actions.ts";
import { BRANCH_KEY } from "./params.ts";

export type StartMode = "start" | "restart" | "resume" | "recover-failed" | "rerun";

export function runOptionsFor(
  instance: WorkflowInstance,
  latest: ReadonlyMap<string, TaskInstance>,
  mode: StartMode,
  base: Map<string, number>,
): DagRunOptions {
  const common = {
    failureStrategy: instance.failureStrategy === "CONTINUE" ? ("CONTINUE" as const) : ("END" as const),
    startTasks: instance.startTasks ?? undefined,
    dependType: (instance.dependType ?? undefined) as DagRunOptions["dependType"],
    dryRun: instance.dryRun,
  };
  if (mode === "rerun") {
    for (const [name, row] of latest) base.set(name, row.attempt);
    return common;
  }
  const previous = new Map<string, PreviousAttempt>();
  for (const [name, row] of latest) {
    let branch: string[] | undefined;
    const raw = row.output?.[BRANCH_KEY];
    if (raw) {
      try {
        branch = JSON.parse(raw) as string[];
      } catch {
        branch = undefined;
      }
    }
    previous.set(name, { state: row.state as TaskState, attempt: row.attempt, ...(branch ? { branch } : {}) });
  }
  const rerunStates = mode === "resume" ? RERUN_STATES.resume : mode === "recover-failed" ? RERUN_STATES.recoverFailed : RERUN_STATES.restart;
  return { ...common, previous, rerunStates };
}
