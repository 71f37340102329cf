// The Store contract for backfills (issue 4; DolphinScheduler's "complement data"): one object
// that plans workflow runs for past fire times and records their progress. The plan and the
// counters live in the Store, so the master keeps nothing in memory and a restart resumes.

import type { Actor } from "./store.ts";
import type { FailureStrategy, Priority, WorkflowInstance } from "./run-store.ts";

export type BackfillState = "RUNNING" | "SUCCESS" | "FAILURE" | "STOPPED";
export type BackfillRunMode = "serial" | "parallel";

export interface Backfill {
  id: number;
  projectId: number;
  workflowId: number;
  scheduleId: number | null;
  state: BackfillState;
  runMode: BackfillRunMode;
  maxParallelism: number;
  onFailure: "stop" | "continue";
  failureStrategy: FailureStrategy;
  priority: Priority;
  workerGroup: string;
  params: Record<string, string>;
  /** Planned fire times, in run order. */
  plan: Date[];
  total: number;
  created: number;
  succeeded: number;
  failed: number;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewBackfill = Pick<
  Backfill,
  "projectId" | "workflowId" | "scheduleId" | "runMode" | "maxParallelism" | "onFailure" | "failureStrategy" | "priority" | "workerGroup" | "params" | "plan"
>;

export interface BackfillRun {
  scheduleTime: Date;
  instanceId: number | null;
  state: string;
}

export interface BackfillRepository {
  create(input: NewBackfill, actor: Actor): Promise<Backfill>;
  get(id: number): Promise<Backfill | null>;
  listForProject(projectId: number): Promise<Backfill[]>;
  /** Per planned time: its instance and state, NOT_STARTED, or REMOVED (its instance was deleted by retention after the backfill ended). */
  runs(id: number): Promise<BackfillRun[]>;
  /**
   * One transaction: counts the ended instances, decides the backfill's state, and creates the
   * next instances the run mode allows. Returns the instances it created.
   */
  advance(id: number, slot: (instanceId: number) => number): Promise<WorkflowInstance[]>;
  /** STOPPED: creates nothing more; answers the instances still active (the caller stops them). */
  stop(id: number, actor: Actor): Promise<{ backfill: Backfill; active: number[] }>;
  /** Backfills still RUNNING (master start resumes them), of one workflow or all. */
  listRunning(workflowId?: number): Promise<number[]>;
}
