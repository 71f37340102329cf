// The worker's check of a ready task (docs/architecture.md §3.4) answered without a Store read
// when the master that dispatched it runs in the same process (`porpoise all`). This is the
// in-process twin of the dispatch check: the master serves its drivers' memory here, the worker
// asks here first, and on "don't know" reads the task-instance row from the Store. Master and
// worker never see each other, only this object, which the mode composes (src/modes/).
//
// It holds because the master is the only writer of its instances' task state (fenced by its
// lease) and changes memory before the Store. Measured when it was introduced: the Store read was
// one mutex turn behind the master's group commit on SQLite and one round trip on Postgres per
// task, the ceiling of the whole engine's throughput with one worker slot per core.

import type { ReadyTask } from "../core/messages.ts";
import type { DispatchRow } from "../store/store.ts";

export type DispatchLookup = (rt: Pick<ReadyTask, "taskInstanceId" | "workflowInstanceId" | "attempt" | "token">) => DispatchRow | undefined;

export class DispatchVouch {
  private lookup: DispatchLookup | null = null;

  /** The master: answers from the attempts it drives; undefined when it does not hold this one in DISPATCH. */
  serve(lookup: DispatchLookup | null): void {
    this.lookup = lookup;
  }

  /** The worker: the committed DISPATCH row of this exact attempt and token, or undefined (read the Store). */
  get(rt: Pick<ReadyTask, "taskInstanceId" | "workflowInstanceId" | "attempt" | "token">): DispatchRow | undefined {
    return this.lookup?.(rt);
  }
}
