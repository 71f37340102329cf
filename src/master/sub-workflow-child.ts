// Reads a sub_workflow task needs about its child instances (master-tasks.ts drives them).
//
// Earlier child: a sub_workflow attempt lost to a restart (NEED_FAULT_TOLERANCE) left its
// child behind, and the restart drives that child on; an attempt that ended PAUSE (its parent
// was paused) left a paused child. The next attempt re-attaches to that child — waits for it,
// resumes it if it is paused, or takes its end if it is over — instead of starting a second
// child that would run the same work again. The child still names the attempt that created it
// (parent_task_instance_id); the lost or paused attempts just before lead back to it. A retry
// after a real FAILURE, a stop or a rerun starts a new child.
//
// OUT params: DolphinScheduler passes the child's varPool up — the child's final OUT params
// become the sub_workflow task's OUT params, seen by the parent's downstream tasks.

import type { Store, TaskInstance, WorkflowInstance } from "../store/store.ts";
import { latestAttempts } from "./attempt-book.ts";
import type { AttemptRec } from "./driver-host.ts";
import { BRANCH_KEY } from "./params.ts";

/** Attempt states after which the next attempt takes over the same child. */
const HANDED_ON = new Set(["NEED_FAULT_TOLERANCE", "PAUSE"]);

/** The child instance started by the lost or paused attempts of this task just before `rec`, if any. */
/** `self`: also a child of `rec` itself (a retry of a start whose create may have committed unseen). */
export async function childOfEarlierAttempts(store: Store, rec: AttemptRec, projectId: number, workflowId: number, self = false): Promise<WorkflowInstance | null> {
  if (rec.attempt <= 1 && !self) return null;
  // Only attempts of this run: after a rerun, attempt numbers go on from the earlier run's (dagAttempt
  // counts from 1 again), and a child paused or lost by the earlier run is not this run's to resume.
  const firstOfRun = rec.attempt - rec.dagAttempt + 1;
  const earlier = (await store.taskInstances.listForInstance(rec.instanceId))
    .filter((t) => t.taskName === rec.name && t.attempt < rec.attempt && t.attempt >= firstOfRun)
    .sort((a, b) => b.attempt - a.attempt);
  const handedOn: TaskInstance[] = [];
  for (const t of earlier) {
    if (!HANDED_ON.has(t.state)) break;
    handedOn.push(t);
  }
  if (handedOn.length === 0 && !self) return null;
  const ids = new Set(handedOn.map((t) => t.id));
  if (self) ids.add(rec.id!);
  // Children are created after their attempt: only instances of the child workflow since the oldest of those attempts.
  const from = new Date(Math.min(...(self ? [Date.now() - 3_600_000] : []), ...handedOn.map((t) => t.createdAt.getTime())) - 60_000);
  for (let offset = 0; ; offset += 100) {
    const page = await store.instances.list({ projectId, workflowId, from, limit: 100, offset });
    const child = page.items.find((i) => i.parentTaskInstanceId !== null && ids.has(i.parentTaskInstanceId));
    if (child) return child;
    if (page.items.length < 100) return null;
  }
}

/**
 * The child's final OUT params: the outputs of its tasks' latest attempts that succeeded, merged in
 * the order they ended (a later task's value wins, as in the child's own varPool).
 */
export async function childOutput(store: Store, childId: number): Promise<Record<string, string>> {
  const succeeded = [...latestAttempts(await store.taskInstances.listForInstance(childId)).values()]
    .filter((t) => t.state === "SUCCESS" && t.output !== null)
    .sort((a, b) => (a.endTime?.getTime() ?? 0) - (b.endTime?.getTime() ?? 0) || a.id - b.id);
  const out: Record<string, string> = {};
  for (const t of succeeded) for (const [k, v] of Object.entries(t.output!)) if (k !== BRANCH_KEY) out[k] = v;
  return out;
}
