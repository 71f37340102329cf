// The Bus carries ready tasks from masters to workers, task events back to the master that
// owns their slot, and lossy broadcasts (kills, wakes) — docs/architecture.md §2. Two
// implementations share this contract and one test suite (test/integration/contracts/
// bus-contract.ts): in-process (memory-bus.ts) for `porpoise all`, and Redis for the cluster.
//
// The Bus is not a source of truth (docs/architecture.md §3.1). Its contents may be lost
// (process exit, Redis flush); masters rebuild queues from the Store, so a task may be
// delivered more than once. Workers therefore check every ReadyTask against its task-instance
// row and token before running it (§3.4), and masters drop events that match no live attempt.
//
// Ready queues: claim + ack with a visibility lease. A claimed task that is not acked within
// the lease is offered again; a worker acks once it has checked the task (and started it, or
// dropped it). Event streams: one durable stream per slot; a consumer that takes a slot gets
// the slot's unacked events first (also those delivered to a previous owner that died), and
// the master acks them after the commit that recorded them.

import { z } from "zod";
import type { KillMessage, ReadyTask, TaskEvent, WakeMessage } from "../core/messages.ts";

export {
  PRIORITY,
  type Priority,
  type ReadyTask,
  isWorkerGroup,
  parseReadyTask,
  readyTaskSchema,
  workerGroupSchema,
} from "../core/messages.ts";

export const channelSchema = z.string().min(1).max(200);

/** Stops a subscription. The handler is not called again once this returns. */
export type Unsubscribe = () => void;

/** Default visibility lease of a claimed ready task. */
export const DEFAULT_CLAIM_LEASE_MS = 30_000;

/** A task event as delivered from a slot's stream; ack it with ackEvents after its commit. */
export interface DeliveredEvent {
  readonly slot: number;
  /** Stream position, unique within the slot ("<ms>-<seq>" in Redis). */
  readonly id: string;
  readonly event: TaskEvent;
}

/** A live consumer of slot event streams (one per master). */
export interface EventConsumer {
  /**
   * The slots to consume from now on. A slot that is added delivers its unacked events first
   * (whoever they were delivered to before), then new ones; a removed slot delivers nothing more.
   */
  setSlots(slots: readonly number[]): void;
  /** Stops delivering; unacked events stay in their streams for the next owner. */
  close(): Promise<void>;
}

/** What the Bus counted as dropped: unsigned, forged, malformed or stale messages. */
export interface BusDropCounts {
  readonly unsigned: number;
  readonly forged: number;
  readonly malformed: number;
}

export interface Bus {
  /**
   * Adds a task to the ready queue of `group` (must equal `task.workerGroup`).
   * Queues are served by instancePriority (0 first), then priority, then in
   * enqueue order. Rejects with ValidationError naming the field when the task is malformed.
   */
  enqueue(group: string, task: ReadyTask): Promise<void>;

  /**
   * Claims up to `max` tasks from the given groups, best first across all of them
   * (instancePriority, then priority, then enqueue order). Resolves as soon as at least one task
   * is available; while none is, it waits without polling and is woken by enqueue. Resolves
   * with [] when `signal` aborts (or has already aborted) or the bus closes; tasks are never
   * handed to an aborted claim. Concurrent claims each get distinct tasks. `max` is the worker's
   * free capacity (>= 1). Each claimed task must be acked within the bus's claim lease, or it is
   * offered again (to any claimer).
   */
  claim(groups: readonly string[], max: number, signal?: AbortSignal): Promise<ReadyTask[]>;

  /** Ends the claims of these tasks (matched by taskInstanceId, attempt and token); unknown ones are ignored. */
  ack(tasks: readonly ReadyTask[]): Promise<void>;

  /** Number of tasks waiting (not claimed) in `group` (metrics, back-pressure, tests). */
  depth(group: string): Promise<number>;

  /** Appends an event to the durable stream of `slot` (the slot of event.workflowInstanceId). */
  publishEvent(slot: number, event: TaskEvent): Promise<void>;

  /**
   * Starts consuming slot streams as `consumer` (a node id). `handler` gets events in stream
   * order per slot, in batches; handler errors are logged. Delivery is at least once.
   */
  consumeEvents(consumer: string, handler: (events: readonly DeliveredEvent[]) => void): EventConsumer;

  /** Removes delivered events from their streams (after the commit that recorded them). */
  ackEvents(events: readonly DeliveredEvent[]): Promise<void>;

  /** Broadcast to current kill subscribers (workers); at most once. */
  publishKill(message: KillMessage): Promise<void>;
  subscribeKills(handler: (message: KillMessage) => void): Promise<Unsubscribe>;

  /** Broadcast to current wake subscribers (masters); at most once — sweeps recover lost wakes. */
  publishWake(message: WakeMessage): Promise<void>;
  subscribeWakes(handler: (message: WakeMessage) => void): Promise<Unsubscribe>;

  /**
   * Fire-and-forget broadcast of a plain string to the current subscribers of `channel`
   * (schedule changes). At most once, in publish order per publisher; never delivered inside
   * the publish call itself.
   */
  publish(channel: string, message: string): Promise<void>;

  /**
   * Calls `handler` for each message published on `channel` after the returned promise
   * resolves. Handler errors are logged and do not stop delivery.
   */
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;

  /** Messages dropped on receipt (bad signature, malformed); always zero in-process. */
  dropped(): BusDropCounts;

  /** Resolves pending claims with [], stops consumers and subscriptions; later calls reject with BUS_CLOSED. */
  close(): Promise<void>;
}
