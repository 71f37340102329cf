// A binary min-heap of (time, key): the scheduler keeps one entry per ONLINE schedule, keyed by
// its next fire, and arms one timer for the top. Changing a schedule does not search the heap:
// the caller bumps the schedule's generation and pushes a new entry; entries of an older
// generation are dropped when they reach the top (lazy deletion), so every change is O(log n).

export interface HeapEntry {
  at: number;
  scheduleId: number;
  generation: number;
  /** The fire this entry stands for (may differ from `at` when a failed fire is retried later). */
  fireTime: number;
}

export class MinHeap {
  private readonly items: HeapEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): HeapEntry | undefined {
    return this.items[0];
  }

  push(entry: HeapEntry): void {
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.at <= a[i]!.at) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  pop(): HeapEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < a.length && a[l]!.at < a[min]!.at) min = l;
        if (r < a.length && a[r]!.at < a[min]!.at) min = r;
        if (min === i) break;
        [a[min], a[i]] = [a[i]!, a[min]!];
        i = min;
      }
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}
