// The messages that travel between roles (docs/architecture.md §2): a ready task (master →
// worker, through a ready queue), a task event (worker → the master owning the slot, through
// the slot's event stream), a kill (master → workers), a wake (api/scheduler → masters).
// Each is a zod schema; whatever crosses a process boundary (Redis, the edge gateway) is
// parsed here before anyone acts on it. In-process twins hand the objects over as they are.
//
// Every ready task and task event carries (slot, epoch): the slot routes it, the epoch says
// which lease of the slot dispatched it. Over Redis each message is also signed (bus/signing.ts).

import { z } from "zod";
import { workerGroupSchema } from "./workflow-fields.ts";
import { quickTaskEvent } from "./task-event-check.ts";
import { parseOrThrow } from "./zod-details.ts";

/** Task and run (workflow instance) priority as in DolphinScheduler; lower number = served first. */
export const PRIORITY = { HIGHEST: 0, HIGH: 1, MEDIUM: 2, LOW: 3, LOWEST: 4 } as const;
export type Priority = (typeof PRIORITY)[keyof typeof PRIORITY];

export { workerGroupSchema };

// What the name schema refuses besides length and the dot segments: control characters, bidi and
// invisible formatting characters, "/", whitespace at either end (core/workflow-fields.ts).
const NOT_A_GROUP_NAME = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff/]|^\s|\s$/;

/** Cheap check for the hot path; accepts a subset of workerGroupSchema (compared in the tests). */
export function isWorkerGroup(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= 200 && !NOT_A_GROUP_NAME.test(value) && value !== "." && value !== "..";
}

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const slot = z.number().int().min(0).max(4095);
const epoch = z.number().int().min(0).max(2 ** 31 - 1);
const attempt = z.number().int().min(1).max(1_000_000);
const token = z.string().min(1).max(200);
const priorityField = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)], {
  error: "expected a priority from 0 (HIGHEST) to 4 (LOWEST)",
});
const isPriority = (v: unknown): v is Priority => v === 0 || v === 1 || v === 2 || v === 3 || v === 4;

export const readyTaskSchema = z.strictObject({
  taskInstanceId: id,
  workflowInstanceId: id,
  /** slotOf(workflowInstanceId): the event stream the worker reports to. */
  slot,
  /** The epoch of the slot lease under which the master dispatched it. */
  epoch,
  /** 1 for the first run, +1 per retry; with `token` it identifies one dispatch (docs/architecture.md §3.4). */
  attempt,
  token,
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
const isSlot = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 4095;
const isEpoch = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2 ** 31 - 1;

/**
 * Validates a ready task and returns a copy. Every dispatch passes here (and every message read
 * back from Redis), so well-formed tasks take a hand-written check: measured 0.13 µs per enqueue
 * instead of 2 µs through zod. That check only ever accepts a subset of what the schema accepts
 * (test/integration/bus-ready-task.test.ts compares them on mutated inputs); anything it does not
 * accept goes to zod, which is the authority on what is valid and produces the error.
 */
export function parseReadyTask(input: unknown): ReadyTask {
  if (typeof input === "object" && input !== null) {
    const t = input as Record<string, unknown>;
    let keys = 0;
    for (const _ in t) keys++;
    if (
      keys === 10 &&
      isId(t.taskInstanceId) &&
      isId(t.workflowInstanceId) &&
      isSlot(t.slot) &&
      isEpoch(t.epoch) &&
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
        slot: t.slot,
        epoch: t.epoch,
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

// ── Task events (worker → master of the slot) ─────────────────────────────────────────

const attemptRef = {
  taskInstanceId: id,
  workflowInstanceId: id,
  slot,
  /** The epoch of the dispatch (informational: a result stays valid across a takeover). */
  epoch,
  attempt,
  token,
};
const date = z.coerce.date();
const message = z.string().max(64 * 1024);

export const runningEventSchema = z.strictObject({
  ...attemptRef,
  kind: z.literal("running"),
  /** The worker's host; a cluster worker's registry node id (a dead worker's attempts are rerun, §3.10). */
  host: z.string().max(500),
  logPath: z.string().max(4096).nullable(),
  startTime: date,
});

export const doneEventSchema = z.strictObject({
  ...attemptRef,
  kind: z.literal("done"),
  /**
   * PAUSE only from the master itself: a sub_workflow attempt whose child paused with its parent.
   * NEED_FAULT_TOLERANCE from a worker cut off longer than its lease that killed the attempt
   * (worker/lease-watch.ts): it runs again without using a retry.
   */
  state: z.enum(["SUCCESS", "FAILURE", "KILL", "PAUSE", "NEED_FAULT_TOLERANCE"]),
  exitCode: z.number().int().nullable(),
  output: z.record(z.string(), z.string()),
  message: message.nullable(),
  endTime: date,
  /** Only when the worker saw no RUNNING report go out before (fast tasks): folded into one write. */
  host: z.string().max(500).optional(),
  logPath: z.string().max(4096).nullable().optional(),
  startTime: date.optional(),
});

/**
 * A timeout with strategy WARN passed while the attempt runs on. The master records it on the
 * attempt and as an alert event.
 */
export const warningEventSchema = z.strictObject({
  ...attemptRef,
  kind: z.literal("warning"),
  message,
});

export const taskEventSchema = z.discriminatedUnion("kind", [runningEventSchema, doneEventSchema, warningEventSchema]);

export type RunningEvent = z.output<typeof runningEventSchema>;
export type DoneEvent = z.output<typeof doneEventSchema>;
export type WarningEvent = z.output<typeof warningEventSchema>;
export type TaskEvent = RunningEvent | DoneEvent | WarningEvent;

/** Validates a task event and returns a copy (a hand-written check first: task-event-check.ts). */
export function parseTaskEvent(input: unknown): TaskEvent {
  return quickTaskEvent(input) ?? parseOrThrow(taskEventSchema, input, "task event");
}

/** A task event read back from a channel (JSON), parsed; null (and the caller counts it) when it is not one. */
export function readTaskEventJson(raw: string): TaskEvent | null {
  return parseJsonMessage(taskEventSchema, raw, quickTaskEvent);
}

/** Where an attempt reports: the worker's side of the slot's event stream. */
export interface EventSink {
  report(event: TaskEvent): void;
}

// ── Kill and wake (lossy broadcasts; sweeps recover what they miss) ────────────────────

/** Bus channel on which masters broadcast "kill this attempt" to workers. */
export const KILL_CHANNEL = "porpoise.kill";
/** Bus channel that wakes masters: a new instance to drive, or a new command to claim. */
export const WAKE_CHANNEL = "porpoise.wake";

export const killMessageSchema = z.strictObject({
  taskInstanceId: id,
  attempt,
  token,
  reason: z.string().max(2000),
});
export type KillMessage = z.output<typeof killMessageSchema>;

/** Runs one wake may name (a scheduler's fire batch wakes for all its runs at once). */
export const WAKE_IDS_MAX = 500;

export const wakeMessageSchema = z.union([
  z.strictObject({ instanceId: id }),
  z.strictObject({ instanceIds: z.array(id).min(1).max(WAKE_IDS_MAX) }),
  z.strictObject({ commands: z.literal(true) }),
]);
export type WakeMessage = z.output<typeof wakeMessageSchema>;

/**
 * A message from a channel, parsed; null (and the caller counts it) when it is not one. `quick`: a
 * hand-written check that accepts a subset of the schema (task-event-check.ts); null sends to zod.
 */
export function parseJsonMessage<T>(schema: z.ZodType<T>, raw: string, quick?: (value: unknown) => T | null): T | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  const fast = quick?.(value);
  if (fast) return fast;
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Bus channel on which the api tells schedulers that schedule `<id>` changed (they re-read it). */
export const SCHEDULE_CHANNEL = "porpoise:schedules";

/**
 * Bus channel on which the api tells masters that workflow instance `<id>` is being read: the
 * master that drives it keeps its snapshot in the Cache for a while (cache/instance-snapshots.ts).
 * Lossy: a lost one costs Store reads until the api asks again.
 */
export const SNAPSHOT_WANTED_CHANNEL = "porpoise:snapshot-wanted";

/** The instance id of a SNAPSHOT_WANTED_CHANNEL message, or null when it is not one. */
export function parseWantedInstance(raw: string): number | null {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) return null;
  const id = Number(raw);
  return Number.isSafeInteger(id) ? id : null;
}
