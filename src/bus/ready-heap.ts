// Binary min-heap of ready tasks for one worker group: O(log n) push and pop.
// Each entry is ordered by one number, rank * 2^48 + sequence with
// rank = instancePriority * 5 + priority (0..24), so a single comparison gives
// "run priority first, then task priority, then FIFO" as DolphinScheduler's
// TaskPriority does. 2^48 sequence numbers last nine years at a million
// enqueues per second, and the largest key, 24 * 2^48 + (2^48 - 1) =
// 25 * 2^48 - 1 < 32 * 2^48 = 2^53, stays an exact integer (ranks up to 31 fit).

import type { ReadyTask } from "./bus.ts";

const SEQ_SPAN = 2 ** 48;

interface Entry {
  key: number;
  task: ReadyTask;
}

/** `instancePriority` and `priority` are 0..4 (validated by parseReadyTask before this). */
export function orderKey(instancePriority: number, priority: number, seq: number): number {
  return (instancePriority * 5 + priority) * SEQ_SPAN + (seq % SEQ_SPAN);
}

export class ReadyHeap {
  private readonly items: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Order key of the best entry, or Infinity when empty (lets callers compare heaps without branching). */
  peekKey(): number {
    return this.items.length === 0 ? Infinity : this.items[0]!.key;
  }

  push(key: number, task: ReadyTask): void {
    const items = this.items;
    const entry: Entry = { key, task };
    let i = items.length;
    items.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.key <= key) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): ReadyTask | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    const n = items.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && items[right]!.key < items[left]!.key ? right : left;
        if (items[child]!.key >= last.key) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    return top.task;
  }

  clear(): void {
    this.items.length = 0;
  }
}
