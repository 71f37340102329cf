// The Store contract for schedules (issue 4): a schedule belongs to one workflow and fires it
// on a cron calendar. Firing is one atomic step in the Store (docs/architecture.md §3.5): the instance
// row is unique on (schedule_id, schedule_time), and `fire` treats that uniqueness as
// "already fired", so two masters (or two connections) racing for one fire create one
// instance and neither sees an error.

import type { Actor, Page, PageQuery, ReleaseState } from "./store.ts";
import type { FailureStrategy, Priority, WorkflowInstance } from "./run-store.ts";

export type CatchupMode = "none" | "latest" | "all";

export interface Schedule {
  id: number;
  projectId: number;
  workflowId: number;
  cron: string;
  timezone: string;
  startTime: Date | null;
  endTime: Date | null;
  releaseState: ReleaseState;
  failureStrategy: FailureStrategy;
  priority: Priority;
  workerGroup: string;
  params: Record<string, string>;
  catchup: CatchupMode;
  catchupMax: number;
  /** The scheduler's cursor: every fire at or before it was materialised or skipped by policy. */
  lastFireTime: Date | null;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What the caller validated already (cron, zone, start ≤ end); the Store only stores it. */
export interface NewSchedule {
  cron: string;
  timezone?: string;
  startTime?: Date | null;
  endTime?: Date | null;
  releaseState?: ReleaseState;
  failureStrategy?: FailureStrategy;
  priority?: Priority;
  workerGroup?: string;
  params?: Record<string, string>;
  catchup?: CatchupMode;
  catchupMax?: number;
}

export type FireResult =
  | { outcome: "created"; instance: WorkflowInstance }
  /** Another master or connection created the instance of this fire first. */
  | { outcome: "exists" }
  /** Nothing created: the schedule is gone or OFFLINE, or its workflow is OFFLINE (the reason says which). */
  | { outcome: "skipped"; reason: string; /** False when the schedule is gone or OFFLINE: stop firing it. */ scheduleActive: boolean }
  /**
   * Nothing created: the store is fenced (fenceWith) and this node does not hold `lease` (expired,
   * taken over, another epoch) — the slot's new owner fires it (lease-fence.ts).
   */
  | { outcome: "stale"; reason: string };

export interface FireInput {
  scheduleId: number;
  fireTime: Date;
  slot: (instanceId: number) => number;
  /**
   * The lease of the schedule's slot (slotOfInstance(scheduleId, slotCount)) the fire is made
   * under; required when the store is fenced, ignored otherwise.
   */
  lease?: { slot: number; epoch: number };
}

export interface ScheduleRepository {
  /** NotFoundError when the workflow does not exist. */
  create(projectId: number, workflowId: number, input: NewSchedule, actor: Actor): Promise<Schedule>;
  get(id: number): Promise<Schedule | null>;
  /** Oldest first. */
  listForWorkflow(workflowId: number, page: PageQuery): Promise<Page<Schedule>>;
  /** Every ONLINE schedule (the scheduler's load at start). */
  listOnline(): Promise<Schedule[]>;
  /** NotFoundError when it does not exist. */
  update(id: number, patch: Partial<NewSchedule>, actor: Actor): Promise<Schedule>;
  /**
   * Going ONLINE moves the cursor to `now` when it is older: fires while a schedule was OFFLINE
   * are not "missed", they were not wanted.
   */
  setReleaseState(id: number, state: ReleaseState, actor: Actor, now?: Date): Promise<Schedule>;
  delete(id: number, actor: Actor): Promise<void>;
  /**
   * One transaction: checks the schedule and its workflow are ONLINE, inserts the instance of the
   * fire (runType SCHEDULER, scheduleTime = fireTime; a unique clash means "exists"), and moves
   * the cursor to fireTime when it is older.
   */
  fire(input: FireInput): Promise<FireResult>;
  /**
   * Several fires in one transaction (group commit for fires due together); results in input order.
   * With `notBefore` (at most a second ahead, else an error), the schedules and workflows are locked
   * and the rows inserted first, then the transaction waits for that instant and COMMITs (created_at
   * is that instant): the scheduler calls a few ms before the fire time, so that work no longer
   * delays the fire. Fenced, the leases are checked again after the wait: by `leaseHeld` when given
   * (the coordinator's own view, which gives a slot up before its lease can end on the database
   * clock, docs/architecture.md §3.3), else by a query.
   */
  fireMany(inputs: readonly FireInput[], options?: { notBefore?: Date; leaseHeld?: (slot: number, epoch: number) => boolean }): Promise<FireResult[]>;
  /** Moves the cursor forward to `to` (never back): fires up to it are skipped by policy. */
  advanceCursor(id: number, to: Date): Promise<void>;
  /** advanceCursor for many schedules in one transaction (the scheduler's start). */
  advanceCursors(ids: readonly number[], to: Date): Promise<void>;
}
