// What an InstanceDriver keeps per attempt and what it needs from the master (master.ts
// implements DriverHost). Re-exported by instance-driver.ts.

import type { Logger } from "../core/log.ts";
import type { TaskDefinition } from "../core/workflow-schema.ts";
import { PRIORITY, type Priority as QueuePriority } from "../bus/bus.ts";
import type { TaskInstanceState, WorkflowInstance, WorkflowInstanceState } from "../store/store.ts";
import type { Batch } from "./batch.ts";
import type { InstanceDriver } from "./instance-driver.ts";

export interface AttemptRec {
  instanceId: number;
  name: string;
  index: number;
  dagAttempt: number;
  attempt: number;
  id: number | null;
  token: string;
  state: TaskInstanceState;
  /** The resolved params it was dispatched with (a delayed master task starts with them). */
  params?: Record<string, string>;
  /** Set while a kill waits for the attempt's insert to commit. */
  killPending?: string;
  /** The note written on the attempt while it waits for a worker group nobody serves (cleared when it starts). */
  waitNote?: string;
  cancel?: () => void;
}

export interface DriverHost {
  readonly log: Logger;
  readonly host: string;
  /** Queue work for the next batch (timers, follow-ups). */
  schedule(work: (batch: Batch) => void): void;
  /** Queue order: `instancePriority` (the run's) first, then the task's `priority` (both 0 = HIGHEST). */
  enqueue(rec: AttemptRec, task: TaskDefinition, workerGroup: string, priority: QueuePriority, instancePriority: QueuePriority, slot: number, epoch: number): void;
  /**
   * Runs `offer` (an enqueue of an attempt some worker may already have started: a reload's
   * DISPATCH attempts) once the nodes have acknowledged the last Redis reset
   * (cache/reset-acks.ts; docs/architecture.md §3.1); at once where there are none to wait for.
   */
  reoffer?(offer: () => void): void;
  publishKill(rec: AttemptRec, reason: string): void;
  /**
   * After `enqueue`: null when a worker serves `workerGroup` (or nobody knows); else a promise of
   * the note once confirmed (the master counts the attempt and notes the instance), or of null.
   */
  unservedGroup?(rec: AttemptRec, workerGroup: string): Promise<string | null> | null;
  /** The attempt left the queue without a worker event (killed while DISPATCH). */
  leftQueue?(rec: AttemptRec): void;
  /** Start a task the master runs itself over time (sub_workflow, dependent). */
  startMasterTask(driver: InstanceDriver, rec: AttemptRec, task: TaskDefinition, params: Record<string, string>): void;
  stopMasterTask(driver: InstanceDriver, rec: AttemptRec, reason: string): void;
  /** The instance pauses: a running sub_workflow attempt pauses its child. */
  pauseMasterTask(rec: AttemptRec): void;
  finished(driver: InstanceDriver, state: WorkflowInstanceState): void;
}

export const MASTER_TIMED = new Set(["sub_workflow", "dependent"]);

/** The run's priority as a queue rank. Rows are written from the validated run option, so an unknown
 * value means the row was edited by hand: it runs at MEDIUM (the column's default) rather than not at all. */
export function queuePriorityOf(instance: WorkflowInstance, log: Logger): QueuePriority {
  if (Object.hasOwn(PRIORITY, instance.priority)) return PRIORITY[instance.priority as keyof typeof PRIORITY];
  log.warn(`workflow instance ${instance.id} has an unknown priority "${instance.priority}"; its tasks are queued at MEDIUM. Expected one of ${Object.keys(PRIORITY).join(", ")}`);
  return PRIORITY.MEDIUM;
}
