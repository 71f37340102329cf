// What a worker does with a claimed task it does not start (cache/dispatch-records.ts claimStart,
// docs/architecture.md §3.1): the outcome decides whether the claim is acknowledged and whether a
// later copy of the same dispatch may still run on this worker.

import type { ReadyTask } from "../core/messages.ts";
import type { Logger } from "../core/log.ts";
import type { StartClaim } from "../cache/dispatch-records.ts";
import type { DispatchResult } from "../metrics/worker-metrics.ts";

export interface RefusalEffects {
  /** Counts the outcome (porpoise_dispatch_results_total). */
  count(result: DispatchResult): void;
  /** A later copy of this dispatch may run here (its key leaves the worker's seen set). */
  forget(): void;
  /** The claim is done with: acknowledged, so the bus does not offer it again. */
  ack(): void;
  /** Counted as dropped (Worker.dropped). */
  dropped(): void;
  log: Logger;
}

/** Handles a start that did not happen; `claim` is anything but "started". */
export function refuseStart(claim: Exclude<StartClaim, "started">, rt: ReadyTask, fx: RefusalEffects): void {
  const which = `task instance ${rt.taskInstanceId} attempt ${rt.attempt}`;
  if (claim === "unsettled") {
    // Redis lost its contents and not every live node has put its start records back yet: not
    // started, and not acknowledged either — the claim runs out and the task is offered again
    // (here or elsewhere), by when the start record of a worker that ran it is back.
    fx.count("reset_pending");
    fx.forget();
    fx.log.debug(`worker: ${which} left for later: Redis lost its contents, and not every node has put its start records back`);
    return;
  }
  // A copy of this dispatch started on another worker first, or Redis lost its contents since the
  // claim. Then a copy offered again may run here.
  fx.dropped();
  fx.count(claim === "gone" ? "row_gone" : "started_elsewhere");
  if (claim === "gone") fx.forget();
  fx.ack();
  fx.log.debug(`worker: dropped ${which}: ${claim === "gone" ? "its dispatch row left Redis since the claim" : "another worker started it"}`);
}
