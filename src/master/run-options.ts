// How a (re)started instance's DagState is set up from the stored attempts, per start mode:
// a fresh start, a restart after a crash (nothing final reruns), resume (paused and killed
// tasks rerun), recover-failed (failed/killed rerun, successes kept), rerun (everything
// again; attempt numbers continue after the stored ones).
//
// Only the attempts of the current run count (issue 9 item 10): a rerun marks every attempt
// the instance had `superseded` in the transaction that submits it (DolphinScheduler's invalid
// task instances), so a later resume or recover-failed does not take an earlier run's SUCCESS
// for done. Superseded attempts only push the attempt numbers on (`base`); DagState counts
// attempts from 1 within the run, so retries are counted within the run too.

import type { TaskState } from "../core/states.ts";
import type { TaskInstance, WorkflowInstance } from "../store/store.ts";
import { latestAttempts } from "./attempt-book.ts";
import { RERUN_STATES, type DagRunOptions, type PreviousAttempt } from "./dag-actions.ts";
import { BRANCH_KEY } from "./params.ts";

export type StartMode = "start" | "restart" | "resume" | "recover-failed" | "rerun";

export interface RunSetup {
  opts: DagRunOptions;
  /** The latest attempt per task of the current run (none after a rerun). */
  latest: Map<string, TaskInstance>;
}

/** Fills `base` (task → attempts before this run) and says how the DagState starts. */
export function runOptionsFor(instance: WorkflowInstance, rows: readonly TaskInstance[], mode: StartMode, base: Map<string, number>): RunSetup {
  const common = {
    failureStrategy: instance.failureStrategy === "CONTINUE" ? ("CONTINUE" as const) : ("END" as const),
    startTasks: instance.startTasks ?? undefined,
    dependType: (instance.dependType ?? undefined) as DagRunOptions["dependType"],
    dryRun: instance.dryRun,
  };
  const pushBase = (row: TaskInstance) => base.set(row.taskName, Math.max(base.get(row.taskName) ?? 0, row.attempt));
  for (const row of rows) if (row.superseded) pushBase(row);
  const latest = latestAttempts(rows.filter((r) => !r.superseded));
  if (mode === "rerun") {
    // The rerun's transaction superseded every attempt; anything still current here is older than that.
    for (const row of latest.values()) pushBase(row);
    return { opts: common, latest: new Map() };
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
    previous.set(name, { state: row.state as TaskState, attempt: row.attempt - (base.get(name) ?? 0), ...(branch ? { branch } : {}) });
  }
  const rerunStates = mode === "resume" ? RERUN_STATES.resume : mode === "recover-failed" ? RERUN_STATES.recoverFailed : RERUN_STATES.restart;
  return { opts: { ...common, previous, rerunStates }, latest };
}
