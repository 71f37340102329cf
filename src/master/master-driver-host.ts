// What a master gives each InstanceDriver it runs (DriverHost, driver-host.ts): the group-commit
// queue, the Bus for dispatches and kills, the master-run task types, the note on a worker group
// nobody serves, and what happens when an instance ends (serial queue, backfill, parent task).

import type { Bus, Priority } from "../bus/bus.ts";
import type { Logger } from "../core/log.ts";
import type { TaskDefinition } from "../core/workflow-schema.ts";
import type { Store, WorkflowInstanceState } from "../store/store.ts";
import { retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { BackfillDriver } from "./backfill.ts";
import type { Batch } from "./batch.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import type { ResetAcks } from "../cache/reset-acks.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { KillMessage } from "../core/messages.ts";
import type { AttemptRec, DriverHost, InstanceDriver } from "./instance-driver.ts";
import type { MasterTasks } from "./master-tasks.ts";
import type { SerialQueue } from "./serial-queue.ts";
import type { UnservedGroups } from "./unserved-groups.ts";

/** The parts of a master its drivers reach. */
export interface MasterParts {
  log: Logger;
  host: string;
  store: Store;
  bus: Bus;
  unserved: UnservedGroups;
  /** Store retries that do not start another after-outage sweep. */
  retryQuiet: StoreRetryOptions;
  tasks: MasterTasks;
  serial: SerialQueue;
  backfills: BackfillDriver;
  /** The instances this master drives, by id. */
  drivers: Map<number, InstanceDriver>;
  schedule(work: (batch: Batch) => void): void;
  /** The cluster's cached dispatch rows (cache/dispatch-records.ts); absent in `all` on SQLite. */
  records?: DispatchRecords;
  /** Snapshots of the driven instances for the api (cache/instance-snapshots.ts); absent in `all` on SQLite. */
  snapshots?: InstanceSnapshotWriter;
  /** The wait for the nodes' acknowledgements of a Redis reset (cache/reset-acks.ts); cluster only. */
  resetAcks?: ResetAcks;
  stopped(): boolean;
}

export function masterDriverHost(m: MasterParts): DriverHost {
  return {
      log: m.log,
      host: m.host,
      schedule: (work) => m.schedule(work),
      enqueue: (rec: AttemptRec, _task: TaskDefinition, workerGroup: string, priority: Priority, instancePriority: Priority, slot: number, epoch: number) => {
        if (m.records) {
          const row = m.drivers.get(rec.instanceId)?.dispatched(rec.id!, rec.attempt, rec.token);
          if (row) m.records.put(row);
          else if (rec.id !== null) m.records.mark(rec.id);
        }
        m.bus
          .enqueue(workerGroup, {
            taskInstanceId: rec.id!,
            workflowInstanceId: rec.instanceId,
            slot,
            epoch,
            attempt: rec.attempt,
            token: rec.token,
            instancePriority,
            priority,
            workerGroup,
            enqueuedAt: Date.now(),
          })
          .catch((err) => m.log.error(`master: could not enqueue task instance ${rec.id}`, { err }));
      },
      reoffer: (offer) => {
        const acks = m.resetAcks;
        if (!acks) return offer();
        acks
          .whenSettled(m.stopped)
          .then((settled) => settled && offer())
          .catch((err) => m.log.error("master: offering reloaded dispatches again failed", { err }));
      },
      unservedGroup: (rec: AttemptRec, workerGroup: string) => {
        if (rec.id === null || m.unserved.servedNow(workerGroup)) return null;
        return m.unserved.noteFor(workerGroup).then((note) => {
          // Started meanwhile (a worker of the group was there after all): nothing to say.
          if (note === null || rec.id === null || rec.state !== "DISPATCH") return null;
          m.unserved.add(rec.id, workerGroup);
          const said = `task "${rec.name}" (task instance ${rec.id}) is ${note}`;
          (m.drivers.get(rec.instanceId)?.log ?? m.log).warn(`workflow instance ${rec.instanceId}: ${said}`, { taskInstanceId: rec.id, task: rec.name, workerGroup });
          retryStore(`noting workflow instance ${rec.instanceId}`, () => m.store.instances.note(rec.instanceId, said), m.retryQuiet)
            .then((noted) => noted && m.snapshots?.noted(rec.instanceId, said))
            .catch(() => {});
          return note;
        });
      },
      leftQueue: (rec: AttemptRec) => {
        if (rec.id !== null) m.unserved.settle(rec.id);
      },
      publishKill: (rec: AttemptRec, reason: string) => {
        const msg: KillMessage = { taskInstanceId: rec.id!, attempt: rec.attempt, token: rec.token, reason };
        m.records?.drop(rec.id!);
        m.bus.publishKill(msg).catch((err) => m.log.error("master: could not publish a kill", { err }));
      },
      startMasterTask: (driver, rec, task, params) => m.tasks.start(driver, rec, task, params),
      stopMasterTask: (driver, rec, reason) => m.tasks.stop(driver, rec, reason),
      pauseMasterTask: (rec) => m.tasks.pause(rec),
      finished: (driver: InstanceDriver, state: WorkflowInstanceState) => {
        if (m.drivers.get(driver.id) === driver) m.drivers.delete(driver.id);
        driver.log.info(`workflow instance ${driver.id} ended ${state}`, { state });
        void m.serial.released(driver.instance.workflowId, driver.definition.executionType);
        if (driver.instance.backfillId !== null) void m.backfills.advance(driver.instance.backfillId);
        m.tasks.childFinished(driver.instance, state, (parentTaskInstanceId) => {
          for (const d of m.drivers.values()) {
            const rec = d.attemptById(parentTaskInstanceId);
            if (rec) return { driver: d, rec };
          }
          return null;
        });
      },
  };
}
