// The commands a master carries out (STOP, PAUSE, RESUME, RERUN, RECOVER_FAILED, FORCE_SUCCESS,
// KILL_TASK), once each: the master claims them from the Store (commands.ts) and calls
// executeCommand with what it needs of itself. A claimed command is CONSUMED, so the master
// retries a store failure of these steps; each step is safe to repeat (the restart names the
// states it expects, an earlier try that committed is recognised, force-success names the
// state it changes).

import type { Coordinator } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import { controlFits } from "../core/states.ts";
import type { Command, Store } from "../store/store.ts";
import type { Batch } from "./batch.ts";
import type { InstanceDriver } from "./instance-driver.ts";
import type { StartMode } from "./run-options.ts";
import type { SerialQueue } from "./serial-queue.ts";

const RESTART_CONTROLS = { RESUME: ["resume", "resume"], RERUN: ["rerun", "rerun"], RECOVER_FAILED: ["recover-failed", "recover-failed"] } as const;

/** What a command needs of the master that carries it out. */
export interface CommandHost {
  store: Store;
  coordinator: Coordinator;
  log: Logger;
  serial: SerialQueue;
  /** The driver of an instance this master drives now. */
  driver(id: number): InstanceDriver | undefined;
  /** Resolves when a load of the instance in progress has ended (at once when none is). */
  loading(id: number): Promise<void> | undefined;
  load(id: number, mode: StartMode): Promise<void>;
  schedule(work: (batch: Batch) => void): void;
}

/**
 * "done" (carried out, or nothing to do), or "not-owned": the instance's slot is not (or no longer)
 * this master's, nothing was changed, and the caller gives the command back for the slot's owner.
 */
export type CommandOutcome = "done" | "not-owned";

const owns = (host: CommandHost, id: number) => host.coordinator.ownedSlots().includes(host.coordinator.slotOf(id));

export async function executeCommand(host: CommandHost, c: Command): Promise<CommandOutcome> {
  const id = c.workflowInstanceId;
  if (id === null) return "done";
  // Claimed while the slot was held; it may have moved since (docs/architecture.md §3.3).
  if (!owns(host, id)) return "not-owned";
  await host.loading(id);
  const driver = host.driver(id);
  const taskInstanceId = typeof c.payload.taskInstanceId === "number" ? c.payload.taskInstanceId : null;
  switch (c.type) {
    case "STOP":
    case "PAUSE": {
      if (!driver && c.type === "STOP" && (await host.serial.stopWaiting(id))) return "done";
      // Promoted out of SERIAL_WAIT just now: drive it, then stop it.
      if (!driver) await host.load(id, "start");
      const d = host.driver(id);
      if (d) host.schedule((b) => d.control(b, c.type as "STOP" | "PAUSE"));
      return "done";
    }
    case "KILL_TASK":
      if (driver && taskInstanceId !== null) host.schedule((b) => driver.killTask(b, taskInstanceId));
      return "done";
    case "FORCE_SUCCESS":
      if (taskInstanceId === null) return "done";
      if (driver) {
        // A failure from before a resume / recover-failed is not tracked by the new driver: it gets the row.
        const stored = driver.attemptById(taskInstanceId) ? null : await host.store.taskInstances.get(taskInstanceId);
        host.schedule((b) => void driver.forceSuccess(b, taskInstanceId, stored));
      }
      else await forceSuccessStored(host, id, taskInstanceId);
      return "done";
    case "RESUME":
    case "RERUN":
    case "RECOVER_FAILED": {
      const [control, mode] = RESTART_CONTROLS[c.type];
      const instance = await host.store.instances.get(id);
      // Submitted already (an earlier try of this command committed, then lost its answer): start it.
      if (instance && !driver && instance.state === "SUBMITTED_SUCCESS" && instance.pendingControl === control) {
        await host.load(id, "start");
        return "done";
      }
      if (!instance || driver || !controlFits(control, instance.state)) {
        host.log.info(`master: ${control} of workflow instance ${id} ignored (state ${instance?.state ?? "gone"})`);
        return "done";
      }
      const epoch = host.coordinator.lease(instance.slot)?.epoch ?? 0;
      // One Store transaction with the serial decision: run now, wait (SERIAL_WAIT) or refused (SERIAL_DISCARD).
      const r = await host.store.instances.restart(id, {
        control,
        from: [instance.state],
        epoch,
        // The user who starts it again is the one whose rights it uses from now on (run-rights.ts);
        // a child resumed by its parent (no user) keeps its user.
        set: { runTimes: instance.runTimes + 1, endTime: null, ...(mode === "rerun" ? { startTime: new Date() } : {}), ...(c.createdBy !== null ? { executorId: c.createdBy } : {}) },
      });
      if (r.outcome === "stale" && !owns(host, id)) return "not-owned";
      if (r.outcome === "stale") host.log.warn(`master: ${control} of workflow instance ${id} refused: its state or epoch changed meanwhile; command ${c.id} is not carried out`);
      if (r.outcome === "submitted") await host.load(id, mode);
      else if (r.outcome !== "stale") host.log.info(`master: ${control} of workflow instance ${id} ${r.outcome === "queued" ? "waits (SERIAL_WAIT) behind" : "refused (SERIAL_DISCARD): active is"} workflow instance ${r.blockedBy}`);
      return "done";
    }
  }
  return "done";
}

/** Force-success of a task of a finished instance: only the row changes; recover-failed goes on from it. */
async function forceSuccessStored(host: CommandHost, instanceId: number, taskInstanceId: number): Promise<void> {
  const row = await host.store.taskInstances.get(taskInstanceId);
  const instance = await host.store.instances.get(instanceId);
  if (!row || !instance || !(row.state === "FAILURE" || row.state === "KILL")) return;
  const epoch = host.coordinator.lease(instance.slot)?.epoch ?? 0;
  await host.store.taskInstances.applyBatch([
    // Repeating it is harmless: the update names the state it expects.
    { op: "update", id: row.id, attempt: row.attempt, token: row.dispatchToken, from: [row.state], to: "FORCED_SUCCESS", fence: { workflowInstanceId: instanceId, epoch } },
  ]);
}
