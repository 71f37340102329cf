// The worker's acks of ready tasks, one call per turn of the event loop: on Redis one ack script
// for all of them instead of one command per task (measured with scripts/cluster-cpu-probe.ts,
// worker 307/323 -> 280/270 µs per task). A claim's lease is far longer than a turn, and a lost
// ack only means the task is offered again and dropped as a duplicate.

import type { Bus, ReadyTask } from "../bus/bus.ts";
import type { Logger } from "../core/log.ts";

export class AckBatch {
  private pending: ReadyTask[] = [];
  /** The last batch on its way (settled once it is acked or its failure logged). */
  private sent: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /** Ends the claim of `rt` at the end of this turn, with the others of the turn. */
  add(rt: ReadyTask): void {
    if (this.pending.push(rt) > 1) return;
    this.sent = new Promise<void>((resolve) =>
      setImmediate(() => {
        const batch = this.pending;
        this.pending = [];
        this.bus
          .ack(batch)
          .catch((err) => this.log.warn(`worker: could not ack ${batch.length} ready task(s) (task instances ${batch.map((t) => t.taskInstanceId).join(", ")}); they may be offered again`, { err }))
          .finally(resolve);
      }),
    );
  }

  /** Waits for the acks added so far (the worker's stop). */
  flushed(): Promise<void> {
    return this.sent;
  }
}
