// The master's side of the serial execution types (issue 4; DolphinScheduler's
// WorkflowExecuteRunnable.checkSerialProcess + RECOVER_SERIAL_WAIT). The queue itself is the
// SERIAL_WAIT rows in the Store: a new run is admitted, queued or discarded inside its create
// transaction (src/store/serial-instances.ts, under the workflow row lock), and here the
// master only says "an instance ended, let the next one in" — after the end is durable — and
// starts what the Store promoted. Nothing is kept in memory, so a restart loses nothing:
// `recover` repeats the release for every workflow that has waiting instances.
//
// Every end releases the slot, PAUSE included: a paused instance runs nothing (DS counts it as
// finished, WorkflowExecutionStatus.isFinished), and holding the queue for a pause that may
// never be resumed would hang every later run. Resuming it (like rerun and recover-failed) goes
// through the queue again (store restartInstance): it waits while another instance is active.

import type { Logger } from "../core/log.ts";
import type { ExecutionType } from "../core/workflow-schema.ts";
import type { Store, WorkflowInstance } from "../store/store.ts";

export interface SerialQueueDeps {
  store: Store;
  log: Logger;
  /** Starts driving a promoted instance (here, or wakes the master that owns its slot). */
  start(instanceId: number): void;
  /** An instance ended here without ever running (a waiting one stopped): e.g. its backfill moves on. */
  ended?(instance: WorkflowInstance): void;
  /** Advances a backfill (a run of it may have been discarded by SERIAL_PRIORITY meanwhile). */
  advanceBackfill?(backfillId: number): void;
}

export class SerialQueue {
  constructor(private readonly deps: SerialQueueDeps) {}

  /**
   * An instance of `workflowId` ended (committed). Called for every workflow, not only serial
   * ones: a serial version's run may wait behind a parallel version's run of the same workflow.
   */
  async released(workflowId: number, executionType?: ExecutionType): Promise<void> {
    const { store, log } = this.deps;
    try {
      const next = await store.instances.releaseSerial(workflowId);
      if (next) {
        log.info(`workflow instance ${next.id} leaves SERIAL_WAIT: no other instance of workflow ${workflowId} runs`);
        this.deps.start(next.id);
      }
      // SERIAL_PRIORITY may have discarded waiting backfill runs while this one ran; no end notice
      // came for them, so their backfills are advanced here — after the release, so a run they
      // create queues behind the one let in. Only for that type: no extra read per end otherwise.
      if (executionType === "SERIAL_PRIORITY" && this.deps.advanceBackfill) {
        for (const id of await store.backfills.listRunning(workflowId)) this.deps.advanceBackfill(id);
      }
    } catch (err) {
      // Not lost: the waiting rows stay and the next end or master start releases them.
      log.error(`master: could not start the next waiting instance of workflow ${workflowId}`, { err });
    }
  }

  /** Master start: the end of a running instance may have committed just before a crash. */
  async recover(): Promise<void> {
    for (const workflowId of await this.deps.store.instances.workflowsWithWaiting()) await this.released(workflowId);
  }

  /**
   * The reconciliation sweep: waiting runs of `slots` with nothing active ahead of them are let
   * in (a run that queued while the active one ended can miss that end's release: see
   * store/serial-instances.ts releaseSerial). One read when there are none.
   */
  async releaseStranded(slots: readonly number[]): Promise<void> {
    for (const workflowId of await this.deps.store.instances.workflowsWithWaiting({ slots, stranded: true })) await this.released(workflowId);
  }

  /** Stop of a waiting instance: ends STOP at once; false when it no longer waits (promoted meanwhile). */
  async stopWaiting(instanceId: number): Promise<boolean> {
    const stopped = await this.deps.store.instances.stopWaiting(instanceId);
    if (!stopped) return false;
    this.deps.log.info(`workflow instance ${instanceId} stopped while waiting (SERIAL_WAIT)`);
    this.deps.ended?.(stopped);
    return true;
  }
}
