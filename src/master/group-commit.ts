// The master's loop (master.ts): work items (worker events, commands, timers, starts) queue up,
// and each turn applies everything queued in ONE applyBatch transaction (group commit), then runs
// the effects that need the commit first — bus enqueues of successors, kill broadcasts
// (docs/architecture.md §3.7) — and acks the worker events the commit recorded.

import type { Bus, DeliveredEvent } from "../bus/bus.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { Logger } from "../core/log.ts";
import type { RunMetrics } from "../metrics/run-metrics.ts";
import { RetryAborted, retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { Store, TaskBatchOutcome } from "../store/store.ts";
import { Batch } from "./batch.ts";
import type { InstanceDriver } from "./instance-driver.ts";
import { countCommitted } from "./run-counts.ts";

/**
 * A group commit starts one macrotask turn after its first work item, not one microtask: the
 * in-process worker answers a noop in microtasks, so within that turn it drains every ready task
 * it can and the commit takes all their results. Measured (scripts/bench/engine-hot-path.ts
 * throughput, SQLite, 2 worker slots): a microtask start made ~4,600 commits of ~9 ops for
 * 20,000 tasks, and each SQLite commit writes its dirty pages to the WAL (the task row's page,
 * the state and unique index pages, the instance row, sqlite_sequence) whatever it holds.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
/**
 * Work items per group commit at most: the commit holds the store's writer (on SQLite the one
 * connection, reads included) while it runs, so one must not grow with the backlog.
 */
const MAX_BATCH_ITEMS = 2000;

/** What the loop needs of its master. */
export interface GroupCommitHost {
  store: Store;
  bus: Bus;
  log: Logger;
  /** How every store call of the engine waits out an outage (store/retry.ts). */
  retry: StoreRetryOptions;
  metrics?: RunMetrics | undefined;
  snapshots?: InstanceSnapshotWriter | undefined;
  /** The instances the master drives, by id. */
  drivers: Map<number, InstanceDriver>;
  stopped(): boolean;
  /** Stops driving an instance (its memory is not the Store's any more); `reload`: load it again a moment later. */
  abandon(id: number, reload: boolean): void;
}

export class GroupCommit {
  private queue: ((batch: Batch) => void)[] = [];
  private flushing: Promise<void> | null = null;
  /** The group commit in flight (one at a time: flush awaits each). */
  private committing: Promise<unknown> | null = null;
  /** Delivered events recorded by the running group commit, acked after it. */
  private toAck: DeliveredEvent[] = [];
  /** Instances whose ops the running group commit saw refused (stale): their events are applied again after a reload, not acked. */
  private refusedInBatch = new Set<number>();

  constructor(private readonly host: GroupCommitHost) {}

  /** The group commit in flight, if any. */
  get inFlight(): Promise<unknown> | null {
    return this.committing;
  }

  /** The loop's current run, if any (stop() waits for it). */
  get running(): Promise<void> | null {
    return this.flushing;
  }

  /** During a batch's after-commit effects: whether the commit refused the ops of instance `id`. */
  refused(id: number): boolean {
    return this.refusedInBatch.has(id);
  }

  /** During a batch's after-commit effects: acks `delivered` once the effects ran. */
  ackAfter(delivered: DeliveredEvent): void {
    this.toAck.push(delivered);
  }

  schedule(work: (batch: Batch) => void): void {
    if (this.host.stopped()) return;
    this.queue.push(work);
    if (!this.flushing) this.flushing = nextTurn().then(() => this.flush());
  }

  private async flush(): Promise<void> {
    const host = this.host;
    try {
      while (this.queue.length > 0 && !host.stopped()) {
        const work = this.queue.length <= MAX_BATCH_ITEMS ? this.queue : this.queue.splice(0, MAX_BATCH_ITEMS);
        if (work === this.queue) this.queue = [];
        const batch = new Batch();
        for (const item of work) {
          try {
            item(batch);
          } catch (err) {
            host.log.error("master: handling an event failed", { err });
          }
        }
        if (batch.empty) continue;
        let outcomes;
        try {
          outcomes = await this.commit(batch);
        } catch (err) {
          batch.abort();
          if (err instanceof RetryAborted) return; // stopping while the store is away: the next start recovers from the Store
          // Memory ran ahead of a write that did not happen: drop those drivers and reload them from the Store.
          host.log.error("master: a batch could not be written; reloading its workflow instances from the store", { err });
          for (const id of batch.owned()) host.abandon(id, true);
          continue;
        }
        this.refusedInBatch = batch.settle(outcomes);
        if (host.metrics) countCommitted(host.metrics, batch.ops, outcomes, host.drivers);
        for (const id of this.refusedInBatch) {
          host.log.warn(`master: workflow instance ${id} was written by someone else (stale epoch or state); no longer driving it here`);
          host.abandon(id, false);
        }
        batch.runEffects((err) => host.log.error("master: an after-commit effect failed", { err }));
        // After the effects (the successors are enqueued first): marks the instances whose snapshot to rewrite.
        host.snapshots?.committed(batch.ops, outcomes);
        this.refusedInBatch = new Set();
        if (this.toAck.length > 0) {
          const acks = this.toAck;
          this.toAck = [];
          host.bus.ackEvents(acks).catch((err) => host.log.warn("master: could not ack recorded task events; they may be delivered again (and dropped as stale)", { err }));
        }
        await nextTurn();
      }
    } finally {
      this.flushing = null;
      if (this.queue.length > 0 && !host.stopped()) this.flushing = nextTurn().then(() => this.flush());
    }
  }

  /**
   * Writes a batch, retrying while the store is unreachable (a Postgres restart, a lost
   * connection): the drivers already changed their memory for it and the work items behind it
   * wait in the queue, so nothing is dropped and the instances need no reload. The batch keeps
   * its id across tries: when a try failed during COMMIT without saying whether it applied, the
   * next one finds the batch's marker and gets the first try's outcomes instead of applying it
   * twice (applyBatch, migration 0008).
   */
  private commit(batch: Batch): Promise<TaskBatchOutcome[]> {
    if (batch.ops.length === 0) return Promise.resolve([]);
    const id = crypto.randomUUID();
    const committing = retryStore("the master's group commit", (attempt) => this.host.store.taskInstances.applyBatch(batch.ops, { id, retry: attempt > 0 }), this.host.retry);
    this.committing = committing;
    void committing.catch(() => {}).finally(() => {
      if (this.committing === committing) this.committing = null;
    });
    return committing;
  }
}
