// Task events into the master's group commit (master.ts): worker events from the event streams
// of the owned slots, and the events of the master's own task types. Each is applied by its
// instance's driver in the next batch and acked only after the commit that records it; an event
// whose instance is not driven here is loaded for, applied again later, left for the slot's new
// owner, or refused as stale (docs/architecture.md §3.4). WARN timeouts are written on their own.

import type { Bus, DeliveredEvent } from "../bus/bus.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { SlotLease } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import type { TaskEvent, WarningEvent } from "../core/messages.ts";
import { isTerminalWorkflowState } from "../core/states.ts";
import { RetryAborted, retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { Store } from "../store/store.ts";
import type { Batch } from "./batch.ts";
import type { InstanceDriver } from "./instance-driver.ts";
import type { StartMode } from "./run-options.ts";
import type { UnservedGroups } from "./unserved-groups.ts";

/** An event of an active instance that a reload did not bring under a driver is applied again this much later. */
const UNDRIVEN_RETRY_MS = 500;

/** What taking events in needs of its master. */
export interface EventIntakeHost {
  store: Store;
  bus: Bus;
  log: Logger;
  /** Store retries that do not start another after-outage sweep. */
  retryQuiet: StoreRetryOptions;
  /** The instances the master drives, by id. */
  drivers: Map<number, InstanceDriver>;
  unserved: UnservedGroups;
  records?: DispatchRecords | undefined;
  snapshots?: InstanceSnapshotWriter | undefined;
  stopped(): boolean;
  schedule(work: (batch: Batch) => void): void;
  load(id: number, mode: StartMode): Promise<void>;
  /** This node's lease of `slot` while it drives the slot; null otherwise (instance-loading.ts). */
  held(slot: number): SlotLease | null;
  /** During a batch's after-commit effects: whether the commit refused the instance's ops (group-commit.ts). */
  refused(id: number): boolean;
  /** During a batch's after-commit effects: acks the event once the effects ran (group-commit.ts). */
  ackAfter(delivered: DeliveredEvent): void;
  /** Logs a failed background step, except the end of a retry cut short by stop(). */
  failed(what: string): (err: unknown) => void;
}

export class EventIntake {
  /** How often an event was applied again because its reloaded instance was not driven (settleUndriven). */
  private readonly undrivenTries = new WeakMap<DeliveredEvent, number>();
  /** Events that matched no live attempt (stale or forged): docs/architecture.md §3.4 counts them. */
  staleEvents = 0;

  constructor(private readonly host: EventIntakeHost) {}

  /** Worker events from the event streams of the owned slots; each is acked after the commit that records it. */
  onEvents(events: readonly DeliveredEvent[]): void {
    for (const d of events) {
      const id = d.event.workflowInstanceId;
      if (this.host.drivers.has(id) || this.host.stopped()) this.apply(d.event, d);
      else {
        // Not driven here yet (a slot just taken over, an instance still loading): load it first,
        // then apply; an event of an instance that has ended, or is not ours, is stale then.
        void this.host.load(id, "start").then(() => this.apply(d.event, d, true));
      }
    }
  }

  /** `loaded`: the instance was (re)loaded for this event just before; without a driver now, the event is stale. */
  apply(event: TaskEvent, delivered: DeliveredEvent | null, loaded = false): void {
    const host = this.host;
    if (event.kind === "warning") {
      this.recordWarning(event);
      if (delivered) void host.bus.ackEvents([delivered]).catch(() => {});
      return;
    }
    host.unserved.settle(event.taskInstanceId);
    host.schedule((batch) => {
      const driver = host.drivers.get(event.workflowInstanceId);
      const before = driver?.stale ?? 0;
      if (!driver && delivered && !host.held(event.slot)) {
        // Read just before its slot moved: left pending in the stream, the new owner takes it over.
        return;
      }
      if (!driver && delivered && !loaded && !host.stopped()) {
        // Queued while its instance was driven, and the driver was dropped since (a refused
        // commit abandons it): load the instance again and apply it there. Counted stale and acked
        // only if the reload drives nothing (ended, not ours); acking it now lost results and left
        // their attempts RUNNING forever (failover.test.ts: "refused a stale done event" of an
        // attempt the Store had RUNNING).
        void host.load(event.workflowInstanceId, "start").then(() => this.apply(event, delivered, true));
        return;
      }
      if (!driver && delivered && loaded && !host.stopped()) {
        // Reloaded for it and still not driven: ended (stale), or a load that found nothing to drive
        // for now (its first commit refused because the slot's epoch moved on meanwhile, as when a
        // master loses and takes back its slots through a Postgres restart). Acked at once, such an
        // event is lost, and its attempt stays RUNNING or DISPATCH with nobody to run it.
        void this.settleUndriven(event, delivered);
        return;
      }
      if (!driver) this.staleEvents++;
      else if (event.kind === "running") driver.onRunning(batch, event);
      else driver.onDone(batch, event);
      if (driver && driver.stale !== before) this.staleEvents++;
      // One line per refused event (late results of a worker cut off past its lease, duplicates): the count is observable from outside.
      if (!driver || driver.stale !== before) host.log.info(`master: refused a stale ${event.kind} event of task instance ${event.taskInstanceId} attempt ${event.attempt} (${this.staleEvents} refused so far)`);
      if (delivered) {
        const id = event.workflowInstanceId;
        // Recorded only if the commit applied the instance's ops: an event whose write was refused
        // (the slot's lease lapsed and was taken again, a row changed underneath) is applied again
        // on the reloaded instance. Acking it would lose it: the reload finds the attempt still
        // RUNNING and nothing ever ends it (test/cluster/failover.test.ts froze instances so).
        batch.after(() => {
          if (!host.refused(id)) host.ackAfter(delivered);
          else void host.load(id, "start").then(() => this.apply(delivered.event, delivered, true));
        });
      }
      // Started: a copy of its ready task offered again must read the Store, not a cached DISPATCH row.
      if (event.kind === "running" && host.records) batch.after(() => host.records!.drop(event.taskInstanceId));
    });
  }

  /**
   * An event whose instance a reload did not bring back under a driver: stale (acked) if the
   * instance has ended or is gone; applied again after a moment if it is still active in a slot
   * held here; left pending for the new owner otherwise.
   */
  private async settleUndriven(event: TaskEvent, delivered: DeliveredEvent): Promise<void> {
    const host = this.host;
    try {
      const instance = await retryStore(`reading workflow instance ${event.workflowInstanceId}`, () => host.store.instances.get(event.workflowInstanceId), host.retryQuiet);
      if (host.stopped()) return;
      if (instance && !isTerminalWorkflowState(instance.state) && instance.state !== "SERIAL_WAIT") {
        if (!host.held(event.slot)) return;
        const tries = (this.undrivenTries.get(delivered) ?? 0) + 1;
        this.undrivenTries.set(delivered, tries);
        setTimeout(() => this.apply(event, delivered), Math.min(UNDRIVEN_RETRY_MS * 2 ** (tries - 1), 10_000));
        return;
      }
      this.staleEvents++;
      host.log.info(`master: refused a stale ${event.kind} event of task instance ${event.taskInstanceId} attempt ${event.attempt} (${this.staleEvents} refused so far)`);
      await host.bus.ackEvents([delivered]);
    } catch (err) {
      host.failed(`settling an event of task instance ${event.taskInstanceId}`)(err);
    }
  }

  /**
   * A WARN timeout: on the attempt (its `warning`) and as an alert event, one transaction of its
   * own — not a state change, so not part of the driver's batch; fenced by attempt and token.
   */
  private recordWarning(e: WarningEvent): void {
    const host = this.host;
    // Retried while the store is away (a lost warning would be a silent one); dropped on shutdown.
    retryStore(`recording the timeout warning of task instance ${e.taskInstanceId}`, () => host.store.taskInstances.recordWarning({ id: e.taskInstanceId, attempt: e.attempt, token: e.token, message: e.message }), host.retryQuiet)
      .then((recorded) => {
        if (!recorded) return;
        host.log.warn(`task instance ${e.taskInstanceId}: ${e.message}`);
        host.snapshots?.warned(e.workflowInstanceId, e.taskInstanceId, e.message);
      })
      .catch((err) => {
        if (!(err instanceof RetryAborted)) host.log.error(`master: could not record the timeout warning of task instance ${e.taskInstanceId}`, { err });
      });
  }
}
