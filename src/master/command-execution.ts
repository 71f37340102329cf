// The commands a master carries out (STOP, PAUSE, RESUME, RERUN, RECOVER_FAILED, FORCE_SUCCESS,
// KILL_TASK), once each: the master claims them from the Store (commands.ts: PENDING → CLAIMED)
// and calls executeCommand with what it needs of itself. A command becomes CONSUMED only with its
// effect (docs/architecture.md §3.5): in the group commit that carries the control out (a
// `command` op applied only if the control's own ops were), in the restart transaction, or after
// a step that is safe to repeat (a SERIAL_WAIT stop, a force-success of a stored row, nothing to
// do). A master killed before that leaves the command CLAIMED, and the slot's next owner carries
// it out again — so every step here must be harmless when its effect is already there: the
// controls name the states they expect, and a restart refuses a command that is no longer
// CLAIMED by this master (consumed by an earlier try, or re-opened).

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
  /**
   * Runs `work` in the next group commit. `mark: "batch"`: with the command's done-mark, true once
   * that commit made the command CONSUMED (the ops `work` added all applied). `mark: "effects"`:
   * true once the ops `work` added all applied and its after-commit effects ran (the caller marks
   * it then). False when the ops did not apply, the batch was given up, the master stopped first,
   * or `work` returned false (it could not run: no driver).
   */
  commit(c: Command, work: (batch: Batch) => boolean, mark: "batch" | "effects"): Promise<boolean>;
}

/**
 * "done": CONSUMED (carried out, or nothing to do), or no longer this master's to carry out.
 * "not-owned": the instance's slot is not (or no longer) this master's; nothing was changed, and
 * the caller gives the command back for the slot's owner. "retry": its write was refused or given
 * up (a stale driver, a failed batch); the caller gives it back and claims it again later.
 */
export type CommandOutcome = "done" | "not-owned" | "retry";

const owns = (host: CommandHost, id: number) => host.coordinator.ownedSlots().includes(host.coordinator.slotOf(id));

/** Marks a command whose effect needs no write of its own (or was written by a step safe to repeat) CONSUMED. */
async function finish(host: CommandHost, c: Command): Promise<CommandOutcome> {
  // False: its slot's lease is not ours on the database clock (or the claim was re-opened): give it back.
  return (await host.store.commands.complete(c.id, host.coordinator.nodeId)) ? "done" : "not-owned";
}

/**
 * Carries a control out through the driver's next group commit, CONSUMED in the same transaction
 * — or, with `mark: "effects"`, once its after-commit effects ran too: a kill of a running attempt
 * is only a message to its worker (no store write), which a master killed right after the commit
 * would never send; sending it again is harmless.
 */
async function viaDriver(host: CommandHost, c: Command, id: number, work: (driver: InstanceDriver, batch: Batch) => void, mark: "batch" | "effects" = "batch"): Promise<CommandOutcome> {
  const applied = await host.commit(
    c,
    (batch) => {
      // The driver at commit time: the one seen before may have been dropped (slot lost, write refused) meanwhile.
      const driver = host.driver(id);
      if (!driver) return false;
      work(driver, batch);
      return true;
    },
    mark,
  );
  if (applied) return mark === "batch" ? "done" : finish(host, c);
  return owns(host, id) ? "retry" : "not-owned";
}

export async function executeCommand(host: CommandHost, c: Command): Promise<CommandOutcome> {
  const id = c.workflowInstanceId;
  if (id === null) return finish(host, c);
  // Claimed while the slot was held; it may have moved since (docs/architecture.md §3.3).
  if (!owns(host, id)) return "not-owned";
  await host.loading(id);
  const taskInstanceId = typeof c.payload.taskInstanceId === "number" ? c.payload.taskInstanceId : null;
  switch (c.type) {
    case "STOP":
    case "PAUSE": {
      const kind = c.type;
      if (!host.driver(id) && kind === "STOP" && (await host.serial.stopWaiting(id))) return finish(host, c);
      // Not driven here yet (promoted out of SERIAL_WAIT just now, a slot just taken over): drive it, then stop it.
      if (!host.driver(id)) await host.load(id, "start");
      if (!host.driver(id)) return finish(host, c); // ended: nothing to stop
      return viaDriver(host, c, id, (d, b) => d.control(b, kind));
    }
    case "KILL_TASK":
      if (taskInstanceId === null) return finish(host, c);
      if (!host.driver(id)) await host.load(id, "start");
      if (!host.driver(id)) return finish(host, c);
      return viaDriver(host, c, id, (d, b) => d.killTask(b, taskInstanceId), "effects");
    case "FORCE_SUCCESS": {
      if (taskInstanceId === null) return finish(host, c);
      if (!host.driver(id)) await host.load(id, "start");
      const driver = host.driver(id);
      if (!driver) return forceSuccessStored(host, c, id, taskInstanceId);
      // A failure from before a resume / recover-failed is not tracked by the new driver: it gets the row.
      const stored = driver.attemptById(taskInstanceId) ? null : await host.store.taskInstances.get(taskInstanceId);
      return viaDriver(host, c, id, (d, b) => void d.forceSuccess(b, taskInstanceId, stored));
    }
    case "RESUME":
    case "RERUN":
    case "RECOVER_FAILED": {
      const [control, mode] = RESTART_CONTROLS[c.type];
      const instance = await host.store.instances.get(id);
      const driver = host.driver(id);
      // Submitted already (an earlier try of this command committed, then lost its answer): start it.
      if (instance && !driver && instance.state === "SUBMITTED_SUCCESS" && instance.pendingControl === control) {
        await host.load(id, "start");
        return finish(host, c);
      }
      if (!instance || driver || !controlFits(control, instance.state)) {
        host.log.info(`master: ${control} of workflow instance ${id} ignored (state ${instance?.state ?? "gone"})`);
        return finish(host, c);
      }
      const epoch = host.coordinator.lease(instance.slot)?.epoch ?? 0;
      // One Store transaction with the serial decision and the command's CONSUMED: run now, wait (SERIAL_WAIT) or refused (SERIAL_DISCARD).
      const r = await host.store.instances.restart(id, {
        control,
        from: [instance.state],
        epoch,
        // The user who starts it again is the one whose rights it uses from now on (run-rights.ts);
        // a child resumed by its parent (no user) keeps its user.
        set: { runTimes: instance.runTimes + 1, endTime: null, ...(mode === "rerun" ? { startTime: new Date() } : {}), ...(c.createdBy !== null ? { executorId: c.createdBy } : {}) },
        command: { id: c.id, consumer: host.coordinator.nodeId },
      });
      // Not ours any more: carried out by an earlier try of ours (its answer lost), or re-opened for someone else.
      if (r.outcome === "unclaimed") return "done";
      if (r.outcome === "stale" && !owns(host, id)) return "not-owned";
      if (r.outcome === "stale") {
        host.log.warn(`master: ${control} of workflow instance ${id} refused: its state or epoch changed meanwhile; command ${c.id} is not carried out`);
        return finish(host, c);
      }
      if (r.outcome === "submitted") await host.load(id, mode);
      else host.log.info(`master: ${control} of workflow instance ${id} ${r.outcome === "queued" ? "waits (SERIAL_WAIT) behind" : "refused (SERIAL_DISCARD): active is"} workflow instance ${r.blockedBy}`);
      return "done";
    }
  }
  return finish(host, c);
}

/**
 * Force-success of a task of a finished instance: only the row changes (recover-failed goes on
 * from it), in one batch with the command's done-mark.
 */
async function forceSuccessStored(host: CommandHost, c: Command, instanceId: number, taskInstanceId: number): Promise<CommandOutcome> {
  const row = await host.store.taskInstances.get(taskInstanceId);
  const instance = await host.store.instances.get(instanceId);
  if (!row || !instance || row.workflowInstanceId !== instanceId || !(row.state === "FAILURE" || row.state === "KILL")) return finish(host, c);
  const epoch = host.coordinator.lease(instance.slot)?.epoch ?? 0;
  const [, done] = await host.store.taskInstances.applyBatch([
    // Repeating it is harmless: the update names the state it expects.
    { op: "update", id: row.id, attempt: row.attempt, token: row.dispatchToken, from: [row.state], to: "FORCED_SUCCESS", fence: { workflowInstanceId: instanceId, epoch } },
    { op: "command", id: c.id, consumer: host.coordinator.nodeId, after: [0] },
  ]);
  if (done?.outcome === "applied") return "done";
  return owns(host, instanceId) ? "retry" : "not-owned";
}
