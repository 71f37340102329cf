// In-process Bus for `porpoise all`: one binary heap per worker group and a
// waiter list per group. A pull that finds nothing parks a waiter; enqueue
// marks the group and a single microtask hands the queued tasks to the oldest
// waiters, so a burst of enqueues (a fan-out) reaches a worker as one batch and
// nothing ever polls or sleeps.

import { z } from "zod";
import { PorpoiseError, ValidationError } from "../core/errors.ts";
import { silentLogger, type Logger } from "../core/log.ts";
import {
  type Bus,
  type ReadyTask,
  type Unsubscribe,
  channelSchema,
  isWorkerGroup,
  parseReadyTask,
  workerGroupSchema,
} from "./bus.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import { ReadyHeap, orderKey } from "./ready-heap.ts";

const pullSchema = z.strictObject({
  groups: z.array(workerGroupSchema).min(1, "expected at least one worker group").max(100),
  max: z.number().int().min(1).max(10_000),
});
const groupArg = z.strictObject({ group: workerGroupSchema });
const publishSchema = z.strictObject({ channel: channelSchema, message: z.string() });
const subscribeSchema = z.strictObject({ channel: channelSchema, handler: z.function() });

interface Waiter {
  groups: string[];
  max: number;
  resolve(tasks: ReadyTask[]): void;
  detach(): void;
}

interface Subscription {
  handler(message: string): void;
}

export class MemoryBus implements Bus {
  private readonly log: Logger;
  private readonly heaps = new Map<string, ReadyHeap>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly dirty = new Set<string>();
  private readonly channels = new Map<string, Set<Subscription>>();
  private flushScheduled = false;
  private seq = 0;
  private closed = false;

  constructor(opts: { log?: Logger } = {}) {
    this.log = opts.log ?? silentLogger;
  }

  enqueue(group: string, task: ReadyTask): Promise<void> {
    try {
      this.assertOpen();
      const g = isWorkerGroup(group) ? group : parseOrThrow(groupArg, { group }, "enqueue").group;
      const t = parseReadyTask(task);
      if (t.workerGroup !== g) {
        throw new ValidationError(
          `ready task is invalid: workerGroup is "${t.workerGroup}" but it was enqueued on group "${g}"; enqueue it on its own group`,
          [{ path: "workerGroup", message: `expected "${g}"` }],
        );
      }
      this.heap(g).push(orderKey(t.instancePriority, t.priority, ++this.seq), t);
      if (this.waiters.get(g)?.size) this.scheduleFlush(g);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  pull(groups: readonly string[], max: number, signal?: AbortSignal): Promise<ReadyTask[]> {
    try {
      this.assertOpen();
      // Zod only when the cheap check fails: a worker pulls once per batch, and zod is the one that explains.
      if (!(Array.isArray(groups) && groups.length >= 1 && groups.length <= 100 && groups.every(isWorkerGroup) && Number.isInteger(max) && max >= 1 && max <= 10_000)) {
        parseOrThrow(pullSchema, { groups, max }, "pull");
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.resolve([]);
    const unique = groups.length === 1 ? [groups[0]!] : [...new Set(groups)];
    const ready = this.take(unique, max);
    if (ready.length > 0) return Promise.resolve(ready);

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

  depth(group: string): Promise<number> {
    try {
      this.assertOpen();
      const { group: g } = parseOrThrow(groupArg, { group }, "depth");
      return Promise.resolve(this.heaps.get(g)?.size ?? 0);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  publish(channel: string, message: string): Promise<void> {
    try {
      this.assertOpen();
      parseOrThrow(publishSchema, { channel, message }, "publish");
    } catch (err) {
      return Promise.reject(err);
    }
    const subs = this.channels.get(channel);
    if (!subs || subs.size === 0) return Promise.resolve();
    // Delivered on a microtask, never inside publish, so a handler that publishes
    // or unsubscribes cannot re-enter the caller (Redis behaves the same way).
    const snapshot = [...subs];
    queueMicrotask(() => {
      for (const sub of snapshot) {
        if (!subs.has(sub)) continue;
        try {
          sub.handler(message);
        } catch (err) {
          this.log.error("bus subscriber failed; continuing", { channel, err });
        }
      }
    });
    return Promise.resolve();
  }

  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    try {
      this.assertOpen();
      parseOrThrow(subscribeSchema, { channel, handler }, "subscribe");
    } catch (err) {
      return Promise.reject(err);
    }
    let subs = this.channels.get(channel);
    if (!subs) this.channels.set(channel, (subs = new Set()));
    const sub: Subscription = { handler };
    subs.add(sub);
    const unsubscribe = () => {
      const set = this.channels.get(channel);
      if (!set) return;
      set.delete(sub);
      if (set.size === 0) this.channels.delete(channel);
    };
    return Promise.resolve(unsubscribe);
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
    this.channels.clear();
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
        waiter.resolve(this.take(waiter.groups, waiter.max));
        set = this.waiters.get(g);
      }
    }
    this.dirty.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new PorpoiseError("BUS_CLOSED", 503, "the bus is closed (the process is shutting down); create a new one to continue");
  }
}
