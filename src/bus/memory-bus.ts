// In-process Bus for `porpoise all`: one binary heap per worker group and a
// waiter list per group. A claim that finds nothing parks a waiter; enqueue
// marks the group and a single microtask hands the queued tasks to the oldest
// waiters, so a burst of enqueues (a fan-out) reaches a worker as one batch and
// nothing ever polls or sleeps.
//
// Claims are held in a map until acked; one timer (armed only while claims are open) puts
// claims older than the lease back into their queues. Event streams are per-slot arrays of
// unacked events; a consumer of the slot gets them on a microtask, and a consumer that takes
// a slot over gets the unacked ones again (docs/architecture.md §2; memory-event-streams.ts). Objects are handed over
// as they are: nothing crosses a process boundary here, so nothing is serialised or signed.

import { PorpoiseError } from "../core/errors.ts";
import { silentLogger, type Logger } from "../core/log.ts";
import type { KillMessage, TaskEvent, WakeMessage } from "../core/messages.ts";
import { KILL_CHANNEL, WAKE_CHANNEL, wakeMessageSchema } from "../core/messages.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import {
  type Bus,
  type BusDropCounts,
  type DeliveredEvent,
  type EventConsumer,
  type ReadyTask,
  type Unsubscribe,
  DEFAULT_CLAIM_LEASE_MS,
} from "./bus.ts";
import { checkClaimArgs, checkPublishArgs, checkSlot, checkSubscribeArgs, enqueueArgs, groupOf } from "./bus-args.ts";
import { ReadyHeap, orderKey } from "./ready-heap.ts";
import { ClaimTable } from "./claim-table.ts";
import { MemoryEventStreams } from "./memory-event-streams.ts";
import { MemoryChannels } from "./memory-channels.ts";


interface Waiter {
  groups: string[];
  max: number;
  resolve(tasks: ReadyTask[]): void;
  detach(): void;
}

interface Claim {
  task: ReadyTask;
  group: string;
  key: number;
  deadline: number;
}

const NO_DROPS: BusDropCounts = Object.freeze({ unsigned: 0, forged: 0, malformed: 0 });

export class MemoryBus implements Bus {
  private readonly log: Logger;
  private readonly heaps = new Map<string, ReadyHeap>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly dirty = new Set<string>();
  /** Kills, wakes and raw channels (memory-channels.ts). */
  private readonly pubsub: MemoryChannels;
  private flushScheduled = false;
  private seq = 0;
  private closed = false;
  private readonly claimLeaseMs: number;
  private readonly claims = new ClaimTable<Claim>();
  private claimTimer: ReturnType<typeof setTimeout> | null = null;
  /** The per-slot event streams (memory-event-streams.ts). */
  private readonly events: MemoryEventStreams;

  constructor(opts: { log?: Logger; claimLeaseMs?: number } = {}) {
    this.log = opts.log ?? silentLogger;
    this.claimLeaseMs = opts.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
    this.events = new MemoryEventStreams(this.log, () => this.closed);
    this.pubsub = new MemoryChannels(this.log);
  }

  enqueue(group: string, task: ReadyTask): Promise<void> {
    try {
      this.assertOpen();
      const { group: g, task: t } = enqueueArgs(group, task);
      this.heap(g).push(orderKey(t.instancePriority, t.priority, ++this.seq), t);
      this.queuedKeys.set(t, this.seq);
      if (this.waiters.get(g)?.size) this.scheduleFlush(g);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The FIFO sequence each queued task got, so an expired claim goes back in its old place. */
  private readonly queuedKeys = new WeakMap<ReadyTask, number>();

  claim(groups: readonly string[], max: number, signal?: AbortSignal): Promise<ReadyTask[]> {
    try {
      this.assertOpen();
      checkClaimArgs(groups, max);
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.resolve([]);
    const unique = groups.length === 1 ? [groups[0]!] : [...new Set(groups)];
    const ready = this.take(unique, max);
    if (ready.length > 0) return Promise.resolve(this.claimed(ready));

    return new Promise<ReadyTask[]>((resolve) => {
      const onAbort = () => {
        waiter.detach();
        resolve([]);
      };
      const waiter: Waiter = {
        groups: unique,
        max,
        resolve,
        detach: () => {
          for (const g of unique) {
            const set = this.waiters.get(g);
            set?.delete(waiter);
            if (set?.size === 0) this.waiters.delete(g);
          }
          signal?.removeEventListener("abort", onAbort);
        },
      };
      for (const g of unique) {
        let set = this.waiters.get(g);
        if (!set) this.waiters.set(g, (set = new Set()));
        set.add(waiter);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  ack(tasks: readonly ReadyTask[]): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    for (const t of tasks) this.claims.delete(t);
    if (this.claims.size === 0 && this.claimTimer) {
      clearTimeout(this.claimTimer);
      this.claimTimer = null;
    }
    return Promise.resolve();
  }

  /** Records handed-out tasks as claims and arms the lease timer. */
  private claimed(tasks: ReadyTask[]): ReadyTask[] {
    const deadline = Date.now() + this.claimLeaseMs;
    for (const task of tasks) this.claims.set({ task, group: task.workerGroup, key: this.queuedKeys.get(task) ?? ++this.seq, deadline });
    if (tasks.length > 0 && !this.claimTimer) this.armClaimTimer(this.claimLeaseMs);
    return tasks;
  }

  private armClaimTimer(ms: number): void {
    this.claimTimer = setTimeout(() => this.expireClaims(), ms);
    this.claimTimer.unref?.();
  }

  /** Puts claims past their lease back into their queues, in their old order. */
  private expireClaims(): void {
    this.claimTimer = null;
    if (this.closed) return;
    const now = Date.now();
    let next = Infinity;
    for (const c of this.claims.values()) {
      if (c.deadline <= now) {
        this.claims.delete(c.task);
        this.heap(c.group).push(orderKey(c.task.instancePriority, c.task.priority, c.key), c.task);
        if (this.waiters.get(c.group)?.size) this.scheduleFlush(c.group);
      } else next = Math.min(next, c.deadline);
    }
    if (next !== Infinity) this.armClaimTimer(Math.max(1, next - now));
  }

  publishEvent(slot: number, event: TaskEvent): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    try {
      checkSlot(slot, "publishEvent");
    } catch (err) {
      return Promise.reject(err);
    }
    this.events.publish(slot, event);
    return Promise.resolve();
  }

  consumeEvents(consumer: string, handler: (events: readonly DeliveredEvent[]) => void): EventConsumer {
    this.assertOpen();
    return this.events.consume(consumer, handler);
  }

  ackEvents(events: readonly DeliveredEvent[]): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.events.ack(events);
    return Promise.resolve();
  }

  publishKill(message: KillMessage): Promise<void> {
    return this.broadcast(KILL_CHANNEL, message);
  }

  subscribeKills(handler: (message: KillMessage) => void): Promise<Unsubscribe> {
    return this.listen(KILL_CHANNEL, handler as (m: unknown) => void);
  }

  publishWake(message: WakeMessage): Promise<void> {
    // Checked as the Redis Bus checks it: a wake is rare enough (one per run or fire batch) to afford it.
    let checked: WakeMessage;
    try {
      checked = parseOrThrow(wakeMessageSchema, message, "wake message");
    } catch (err) {
      return Promise.reject(err);
    }
    return this.broadcast(WAKE_CHANNEL, checked);
  }

  subscribeWakes(handler: (message: WakeMessage) => void): Promise<Unsubscribe> {
    return this.listen(WAKE_CHANNEL, handler as (m: unknown) => void);
  }

  dropped(): BusDropCounts {
    return NO_DROPS;
  }

  private broadcast(channel: string, message: unknown): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    return this.pubsub.broadcast(channel, message);
  }

  private listen(channel: string, handler: (m: unknown) => void): Promise<Unsubscribe> {
    if (this.closed) return Promise.reject(this.closedError());
    return this.pubsub.listen(channel, handler);
  }

  depth(group: string): Promise<number> {
    try {
      this.assertOpen();
      const g = groupOf(group, "depth");
      return Promise.resolve(this.heaps.get(g)?.size ?? 0);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  publish(channel: string, message: string): Promise<void> {
    try {
      this.assertOpen();
      checkPublishArgs(channel, message);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.pubsub.publish(channel, message);
  }

  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    try {
      this.assertOpen();
      checkSubscribeArgs(channel, handler);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.pubsub.subscribe(channel, handler);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const pending = new Set<Waiter>();
    for (const set of this.waiters.values()) for (const w of set) pending.add(w);
    for (const w of pending) {
      w.detach();
      w.resolve([]);
    }
    this.heaps.clear();
    this.pubsub.clear();
    this.events.clear();
    this.claims.clear();
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.claimTimer = null;
    return Promise.resolve();
  }

  private heap(group: string): ReadyHeap {
    let heap = this.heaps.get(group);
    if (!heap) this.heaps.set(group, (heap = new ReadyHeap()));
    return heap;
  }

  /** Pops up to `max` tasks, best order key first across `groups`. */
  private take(groups: string[], max: number): ReadyTask[] {
    const out: ReadyTask[] = [];
    if (groups.length === 1) {
      const heap = this.heaps.get(groups[0]!);
      while (heap && heap.size > 0 && out.length < max) out.push(heap.pop()!);
      return out;
    }
    const heaps = groups.map((g) => this.heaps.get(g)).filter((h): h is ReadyHeap => h !== undefined);
    while (out.length < max) {
      let best: ReadyHeap | undefined;
      let bestKey = Infinity;
      for (const h of heaps) {
        const k = h.peekKey();
        if (k < bestKey) {
          bestKey = k;
          best = h;
        }
      }
      if (!best) break;
      out.push(best.pop()!);
    }
    return out;
  }

  private scheduleFlush(group: string): void {
    this.dirty.add(group);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Hands queued tasks of the marked groups to their oldest waiters. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    for (const g of this.dirty) {
      const heap = this.heaps.get(g);
      let set = this.waiters.get(g);
      while (heap && heap.size > 0 && set && set.size > 0) {
        const waiter = set.values().next().value!;
        waiter.detach();
        waiter.resolve(this.claimed(this.take(waiter.groups, waiter.max)));
        set = this.waiters.get(g);
      }
    }
    this.dirty.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): PorpoiseError {
    return new PorpoiseError("BUS_CLOSED", 503, "the bus is closed (the process is shutting down); create a new one to continue");
  }
}
