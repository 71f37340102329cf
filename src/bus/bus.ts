// The Bus carries ready tasks from masters to workers and events back
// (docs/architecture.md §2). Two implementations share this contract and one test suite
// (test/integration/contracts/bus-contract.ts): in-process (memory-bus.ts) for
// `porpoise all`, and Redis for the cluster.
//
// The Bus is not a source of truth (docs/architecture.md §3.1). Its contents may be lost
// (process exit, Redis flush); masters rebuild queues from the Store, so a task
// may be delivered more than once. Workers therefore check every ReadyTask
// against its task-instance row and token before running it (§3.4), and the
// Bus needs no acknowledgements: a pulled task is gone from the queue.

import { z } from "zod";
import { workerGroupSchema } from "../core/workflow-fields.ts";
import { parseOrThrow } from "../core/zod-details.ts";

/** Task and run (workflow instance) priority as in DolphinScheduler; lower number = served first. */
export const PRIORITY = { HIGHEST: 0, HIGH: 1, MEDIUM: 2, LOW: 3, LOWEST: 4 } as const;
export type Priority = (typeof PRIORITY)[keyof typeof PRIORITY];

// Worker groups are named in workflow files, so the bus accepts exactly the names the
// workflow schema accepts (core/workflow-fields.ts); Redis keys can hold any of them.
export { workerGroupSchema };

// What the name schema refuses besides length and the dot segments: control characters, bidi and
// invisible formatting characters, "/", whitespace at either end (core/workflow-fields.ts).
const NOT_A_GROUP_NAME = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff/]|^\s|\s$/;

/** Cheap check for the hot path; accepts a subset of workerGroupSchema (compared in the tests). */
export function isWorkerGroup(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= 200 && !NOT_A_GROUP_NAME.test(value) && value !== "." && value !== "..";
}

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const priorityField = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)], {
  error: "expected a priority from 0 (HIGHEST) to 4 (LOWEST)",
});
const isPriority = (v: unknown): v is Priority => v === 0 || v === 1 || v === 2 || v === 3 || v === 4;

export const readyTaskSchema = z.strictObject({
  taskInstanceId: id,
  /** Which master's slot the task belongs to (slotOf(workflowInstanceId)); workers route events by it. */
  workflowInstanceId: id,
  /** 1 for the first run, +1 per retry; with `token` it identifies one dispatch (docs/architecture.md §3.4). */
  attempt: z.number().int().min(1).max(1_000_000),
  token: z.string().min(1).max(200),
  /** The run's priority; queues order by it first, then by `priority` (DolphinScheduler's TaskPriority order). */
  instancePriority: priorityField,
  /** The task's own priority; decides among tasks of runs with the same instancePriority. */
  priority: priorityField,
  workerGroup: workerGroupSchema,
  /** Epoch milliseconds when the master dispatched it; for queue-wait metrics only, never for ordering. */
  enqueuedAt: z.number().int().nonnegative(),
});
export type ReadyTask = z.output<typeof readyTaskSchema>;

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/**
 * Validates a ready task and returns a copy. Every dispatch passes here (and,
 * in the cluster, every message read back from Redis), so well-formed tasks
 * take a hand-written check: measured 0.13 µs per enqueue instead of 2 µs
 * through zod. That check only ever accepts a subset of what the schema
 * accepts (test/integration/bus-ready-task.test.ts compares them on mutated
 * inputs); anything it does not accept goes to zod, which is the authority
 * on what is valid and produces the error.
 */
export function parseReadyTask(input: unknown): ReadyTask {
  if (typeof input === "object" && input !== null) {
    const t = input as Record<string, unknown>;
    let keys = 0;
    for (const _ in t) keys++;
    if (
      keys === 8 &&
      isId(t.taskInstanceId) &&
      isId(t.workflowInstanceId) &&
      Number.isSafeInteger(t.attempt) && (t.attempt as number) >= 1 && (t.attempt as number) <= 1_000_000 &&
      typeof t.token === "string" && t.token.length >= 1 && t.token.length <= 200 &&
      isPriority(t.instancePriority) &&
      isPriority(t.priority) &&
      isWorkerGroup(t.workerGroup) &&
      Number.isSafeInteger(t.enqueuedAt) && (t.enqueuedAt as number) >= 0
    ) {
      return {
        taskInstanceId: t.taskInstanceId,
        workflowInstanceId: t.workflowInstanceId,
        attempt: t.attempt as number,
        token: t.token,
        instancePriority: t.instancePriority,
        priority: t.priority,
        workerGroup: t.workerGroup,
        enqueuedAt: t.enqueuedAt as number,
      };
    }
  }
  return parseOrThrow(readyTaskSchema, input, "ready task");
}

export const channelSchema = z.string().min(1).max(200);

/** Stops a subscription. The handler is not called again once this returns. */
export type Unsubscribe = () => void;

export interface Bus {
  /**
   * Adds a task to the ready queue of `group` (must equal `task.workerGroup`).
   * Queues are served by instancePriority (0 first), then priority, then in
   * enqueue order.
   * Rejects with ValidationError naming the field when the task is malformed.
   */
  enqueue(group: string, task: ReadyTask): Promise<void>;

  /**
   * Takes up to `max` tasks from the given groups, best first across all of
   * them (instancePriority, then priority, then enqueue order). Resolves as soon as at least one task
   * is available; while none is, it waits without polling and is woken by
   * enqueue. Resolves with [] when `signal` aborts (or has already aborted) or
   * the bus closes; tasks are never handed to an aborted pull. Concurrent pulls
   * each get distinct tasks. `max` is the worker's free capacity (>= 1).
   */
  pull(groups: readonly string[], max: number, signal?: AbortSignal): Promise<ReadyTask[]>;

  /** Number of tasks waiting in `group` (metrics, back-pressure, tests). */
  depth(group: string): Promise<number>;

  /**
   * Fire-and-forget broadcast to the current subscribers of `channel` (events
   * from workers, wake-ups such as "new command"). At most once, in publish
   * order per publisher; never delivered inside the publish call itself.
   */
  publish(channel: string, message: string): Promise<void>;

  /**
   * Calls `handler` for each message published on `channel` after the returned
   * promise resolves (the subscription is live then; in Redis that is after the
   * server confirmed it). Handler errors are logged and do not stop delivery.
   */
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;

  /** Resolves pending pulls with [], drops subscriptions; later calls reject with BUS_CLOSED. */
  close(): Promise<void>;
}
