// The latest event a worker published for each of its recent attempts, kept so that it can be
// published again when the first copy may be gone (docs/architecture.md §3.1):
//   - Redis lost its contents (cache/redis-resets.ts): an event added to a slot stream that no
//     master had read yet went with it, and its attempt would stay RUNNING (or DISPATCH) for good;
//   - a ready task is delivered again for an attempt this worker ran or runs: its master has not
//     recorded what the worker reported (the dispatch record Redis lost made it offer the task
//     again), so the report goes once more instead of the copy being dropped in silence.
// Masters refuse a copy they already recorded as stale, so publishing again is always safe; what
// is kept only bounds how far back a loss can be repaired. "done" replaces "running"; warnings are
// not kept (they change no state).

import type { TaskEvent } from "../core/messages.ts";
import type { Bus } from "./bus.ts";

/** How long an attempt's latest event is kept after it was published: masters lag far less. */
export const RECENT_EVENT_MS = 10 * 60_000;
/** At most this many attempts (~0.5 KB each): the oldest go first. */
export const RECENT_EVENT_LIMIT = 20_000;

interface Kept {
  event: TaskEvent;
  at: number;
}

export class RecentEvents {
  private readonly kept = new Map<string, Kept>();

  constructor(
    private readonly keepMs = RECENT_EVENT_MS,
    private readonly limit = RECENT_EVENT_LIMIT,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Keeps `event` as the latest of attempt `key`. */
  record(key: string, event: TaskEvent): void {
    if (event.kind === "warning") return;
    const previous = this.kept.get(key);
    // A "running" resent after its "done" (an unsent queue drained late) does not replace it.
    if (previous && previous.event.kind === "done" && event.kind !== "done") return;
    this.kept.delete(key);
    this.kept.set(key, { event, at: this.now() });
    this.prune();
  }

  /** The latest event kept for attempt `key`. */
  latest(key: string): TaskEvent | undefined {
    this.prune();
    return this.kept.get(key)?.event;
  }

  /** Every event kept, oldest first. */
  all(): TaskEvent[] {
    this.prune();
    return [...this.kept.values()].map((k) => k.event);
  }

  get size(): number {
    return this.kept.size;
  }

  private prune(): void {
    const oldest = this.now() - this.keepMs;
    for (const [key, k] of this.kept) {
      if (this.kept.size <= this.limit && k.at >= oldest) break;
      this.kept.delete(key);
    }
  }
}

/**
 * Publishes kept events again, all at once, each on its slot's stream; resolves with those that
 * failed (the worker resends them, the edge gateway leaves the reset unacknowledged).
 */
export async function publishAgain(bus: Pick<Bus, "publishEvent">, events: readonly TaskEvent[]): Promise<TaskEvent[]> {
  const sent = await Promise.allSettled(events.map((event) => bus.publishEvent(event.slot, event)));
  return events.filter((_, i) => sent[i]!.status === "rejected");
}
