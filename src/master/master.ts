// The master: drives every workflow instance of the slots it holds. All state changes go
// through one loop: work items (worker events, commands, timers, starts) queue up, and
// each turn applies everything queued in ONE applyBatch transaction (group commit), then
// runs the effects that need the commit first — bus enqueues of successors, kill
// broadcasts (docs/architecture.md §3.7). Nothing on the path "task done → successor dispatched"
// sleeps or polls: a worker's event schedules a turn at once.
//
// Workflow timeout (the issue leaves the behaviour open; DolphinScheduler only alerts):
// the instance's running tasks are killed, nothing new starts, and it ends FAILURE with
// the reason on the killed attempts and in the log. A timeout is a promise about when the
// work is over; a run that breaks it should not keep holding workers and hide the breach.
//
// The parts, each with the state it alone changes: the loop (group-commit.ts), loading instances
// under the slots held (instance-loading.ts), worker events into the loop (event-intake.ts),
// commands (command-claims.ts, command-execution.ts), and the sweeps that pick up what a lossy
// wake, a flush, a dead worker or an outage left (cluster-sweeps.ts). This file wires them, and
// follows the Coordinator's slot changes.

import { hostname } from "node:os";
import type { Bus, EventConsumer, Unsubscribe } from "../bus/bus.ts";
import type { DispatchVouch } from "../cache/dispatch-vouch.ts";
import type { InstanceHandoff } from "../bus/instance-handoff.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { Coordinator, SlotChange } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { Project, Store, WorkflowInstance } from "../store/store.ts";
import { RetryAborted, retryStore, type StoreRetryOptions } from "../store/retry.ts";
import { UnservedGroups } from "./unserved-groups.ts";
import type { Batch } from "./batch.ts";
import type { EventSink, TaskEvent, WakeMessage } from "../core/messages.ts";
import type { DriverHost, InstanceDriver } from "./instance-driver.ts";
import { MasterTasks } from "./master-tasks.ts";
import { SerialQueue } from "./serial-queue.ts";
import { masterDriverHost, type MasterParts } from "./master-driver-host.ts";
import { BackfillDriver } from "./backfill.ts";
import type { StartMode } from "./run-options.ts";
import { GroupCommit } from "./group-commit.ts";
import { InstanceLoading } from "./instance-loading.ts";
import { EventIntake } from "./event-intake.ts";
import { CommandClaims } from "./command-claims.ts";
import { ClusterSweeps } from "./cluster-sweeps.ts";
import type { MasterDeps } from "./master-deps.ts";

export type { MasterDeps } from "./master-deps.ts";

export class Master implements EventSink {
  private readonly store: Store;
  private readonly bus: Bus;
  private readonly coordinator: Coordinator;
  private readonly adoptInterrupted: MasterDeps["adoptInterrupted"];
  private readonly vouch: DispatchVouch | undefined;
  private readonly handoff: InstanceHandoff | undefined;
  private readonly records: DispatchRecords | undefined;
  private readonly snapshots: InstanceSnapshotWriter | undefined;
  private readonly recovery: NonNullable<MasterDeps["recovery"]>;
  readonly log: Logger;
  readonly host: string;
  private readonly drivers = new Map<number, InstanceDriver>();
  private unsubscribe: Unsubscribe | null = null;
  private events: EventConsumer | null = null;
  private offChange: (() => void) | null = null;
  private stopped = false;
  /** Aborted by stop(): releases loads whose scheduled work will never run once the queue stops. */
  private readonly stopping = new AbortController();
  private readonly tasks: MasterTasks;
  private readonly driverHost: DriverHost;
  private readonly serial: SerialQueue;
  private readonly backfills: BackfillDriver;
  /** How every store call of the engine waits out an outage (store/retry.ts). */
  private readonly retry: StoreRetryOptions;
  /** The same, without starting another sweep when it recovers (the sweep's own calls). */
  private readonly retryQuiet: StoreRetryOptions;
  /** Attempts waiting for a worker group nobody serves, per group (issue 9 item 15): `waitingForUnservedGroups()`. */
  private readonly unserved: UnservedGroups;
  private readonly loop: GroupCommit;
  private readonly loader: InstanceLoading;
  private readonly intake: EventIntake;
  private readonly claims: CommandClaims;
  private readonly sweeps: ClusterSweeps;

  constructor(deps: MasterDeps) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.coordinator = deps.coordinator;
    this.adoptInterrupted = deps.adoptInterrupted;
    this.vouch = deps.vouch;
    this.handoff = deps.handoff;
    this.records = deps.records;
    this.snapshots = deps.snapshots;
    this.recovery = deps.recovery ?? { kind: "restart" };
    this.log = deps.log;
    this.host = deps.host ?? hostname();
    this.retryQuiet = { log: this.log, signal: this.stopping.signal };
    this.retry = { ...this.retryQuiet, onRecovered: () => this.sweeps.afterOutage() };
    this.unserved = new UnservedGroups(deps.servedGroups ?? (() => null), deps.confirmServedGroups);
    this.serial = new SerialQueue({ store: this.store, log: this.log, start: (id) => this.startPromoted(id), ended: (i) => i.backfillId !== null && void this.backfills.advance(i.backfillId), advanceBackfill: (id) => void this.backfills.advance(id) });
    this.backfills = new BackfillDriver({ store: this.store, log: this.log, slotOf: (id) => this.coordinator.slotOf(id), start: (id) => this.startPromoted(id) });
    this.tasks = new MasterTasks({ store: this.store, log: this.log, slotOf: (id) => this.coordinator.slotOf(id), report: (e) => this.report(e), load: (id) => this.load(id, "start"), control: (id, kind) => this.claims.enqueueControl(id, kind) });
    this.driverHost = masterDriverHost(this.parts());
    const { store, bus, coordinator, log, retry, retryQuiet, drivers, records, snapshots, serial } = this;
    const stopped = () => this.stopped;
    const failed = (what: string) => this.failed(what);
    const schedule = (work: (batch: Batch) => void) => this.loop.schedule(work);
    const load = (id: number, mode: StartMode) => this.loader.load(id, mode);
    this.loop = new GroupCommit({ store, bus, log, retry, metrics: deps.metrics, snapshots, drivers, stopped, abandon: (id, reload) => this.abandon(id, reload) });
    this.loader = new InstanceLoading({ store, coordinator, log, retry, drivers, driverHost: this.driverHost, snapshots, stopping: this.stopping.signal, stopped, schedule, failed });
    const held = (slot: number) => this.loader.held(slot);
    this.intake = new EventIntake({ store, bus, log, retryQuiet, drivers, unserved: this.unserved, records, snapshots, stopped, schedule, load, held, refused: (id) => this.loop.refused(id), ackAfter: (d) => this.loop.ackAfter(d), failed });
    this.claims = new CommandClaims({ store, coordinator, log, serial, retry, stopping: this.stopping.signal, stopped, schedule, failed, load, driver: (id) => this.drivers.get(id), loading: (id) => this.loader.inProgress(id) });
    this.sweeps = new ClusterSweeps({
      store,
      coordinator,
      log,
      retryQuiet,
      drivers,
      records,
      recovery: this.recovery,
      serial,
      backfills: this.backfills,
      stopped,
      isLoading: (id) => this.loader.isLoading(id),
      load,
      abandon: (id, reload) => this.abandon(id, reload),
      reopenAndClaim: () => this.claims.reopenAndClaim(),
      failed,
    });
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.bus.subscribeWakes((msg) => this.onWake(msg));
    this.vouch?.serve((rt) => this.drivers.get(rt.workflowInstanceId)?.dispatched(rt.taskInstanceId, rt.attempt, rt.token));
    this.handoff?.serve((instance, definition, project) => this.adopt(instance, definition, project));
    this.events = this.bus.consumeEvents(this.coordinator.nodeId, (events) => this.intake.onEvents(events));
    // Slots acquired from now on are taken over as they come; the ones held already are loaded here.
    this.offChange = this.coordinator.onChange((change) => this.slotsChanged(change));
    const slots = this.coordinator.ownedSlots();
    this.loader.own(slots);
    if (this.recovery.kind === "restart") {
      // Restart recovery: whatever was queued or running died with the old process, except the
      // processes the worker adopts (they still run, or ended while porpoise was down).
      const keep = this.adoptInterrupted ? this.adoptInterrupted(await this.store.taskInstances.listInFlight({ slots })) : [];
      const interrupted = await this.store.taskInstances.markInterrupted({ all: true, slots, keep });
      if (interrupted.length > 0) this.log.info(`restart: ${interrupted.length} interrupted task attempts marked NEED_FAULT_TOLERANCE; they run again`);
    } else {
      const restartOf = this.recovery.restartOf;
      if (restartOf !== undefined) {
        // An `all` node restarted on its data dir, under the same node id: what its worker ran and did
        // not survive (or is not adopted) runs again; what other nodes' workers run is theirs.
        const mine = (await this.store.taskInstances.listInFlight({})).filter((t) => t.host === restartOf);
        const keep = this.adoptInterrupted ? this.adoptInterrupted(mine) : [];
        const interrupted = await this.store.taskInstances.markInterrupted({ host: restartOf, keep });
        if (interrupted.length > 0) this.log.info(`restart: ${interrupted.length} interrupted task attempts of this node marked NEED_FAULT_TOLERANCE; they run again`);
      }
      const every = this.recovery.sweepMs ?? Math.max(200, Math.floor(this.recovery.leaseMs / 2));
      this.sweeps.startSweeping(every);
    }
    this.events.setSlots(slots);
    for (const instance of await this.store.instances.listActive({ slots })) await this.load(instance.id, "start");
    await this.serial.recover();
    await this.backfills.recover();
    // Claims of an earlier life of this node id (restart of `all`), and of dead masters, are carried out again.
    this.claims.reopenAndClaim();
  }

  /**
   * The Coordinator moved slots (docs/architecture.md §3.3). Lost: stop driving their instances at
   * once (the coordinator reports a loss before the lease can expire, so nothing is written after).
   * Acquired: consume their event streams (unacked events first) and load their active instances.
   */
  private slotsChanged(change: SlotChange): Promise<unknown> | undefined {
    if (this.stopped) return undefined;
    if (change.lost.length > 0) {
      const lost = new Set(change.lost.map((l) => l.slot));
      let dropped = 0;
      for (const [id, driver] of this.drivers) {
        if (!lost.has(driver.instance.slot)) continue;
        driver.dispose();
        this.drivers.delete(id);
        dropped++;
      }
      this.log.info(`master: lost ${lost.size} slots (${[...lost].join(",")}); stopped driving ${dropped} workflow instances`);
    }
    // The group commit in flight may carry writes of the dropped drivers: a coordinator giving
    // these slots up waits for it before releasing them (coordinator.ts SlotListener).
    const inFlight = change.lost.length > 0 ? this.loop.inFlight : null;
    this.loader.own(this.coordinator.ownedSlots());
    this.events?.setSlots(this.coordinator.ownedSlots());
    if (change.acquired.length > 0) {
      const slots = change.acquired.map((l) => l.slot);
      // Nothing of a slot just acquired may be driven yet: a driver left from an earlier lease
      // would act on what it read then (see InstanceLoading.drive()).
      const taken = new Set(slots);
      for (const [id, driver] of this.drivers) {
        if (!taken.has(driver.instance.slot)) continue;
        this.log.warn(`master: workflow instance ${id} was still driven from an earlier lease of slot ${driver.instance.slot}; reloading it`);
        driver.dispose();
        this.drivers.delete(id);
      }
      this.log.info(`master: acquired ${slots.length} slots (${slots.join(",")})`);
      void (async () => {
        const active = await retryStore("listing the active workflow instances of acquired slots", () => this.store.instances.listActive({ slots }), this.retry);
        for (const instance of active) void this.load(instance.id, "start");
        await this.serial.recover();
        await this.backfills.recover();
        // Commands the slots' previous owner claimed and did not carry out (killed -9 meanwhile).
        this.claims.reopenAndClaim();
      })().catch(this.failed("taking over acquired slots failed"));
    }
    return inFlight ?? undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    // First, while the shutdown deadline is far: claimed commands not started go back to PENDING.
    const unstarted = this.claims.takeUnstarted();
    await Promise.all(unstarted.map((c) => this.claims.giveBack(c)));
    this.unsubscribe?.();
    this.offChange?.();
    this.sweeps.stopSweeping();
    this.snapshots?.close();
    this.claims.cancelLater();
    this.vouch?.serve(null);
    this.handoff?.serve(null);
    await this.events?.close();
    await this.sweeps.sweepingWorkersNow;
    await this.sweeps.reconcilingNow;
    await Promise.allSettled(this.loader.all());
    await this.loop.running;
    await this.claims.running;
    await this.sweeps.sweepingNow;
    for (const driver of this.drivers.values()) driver.dispose();
    this.tasks.stopAll();
    this.drivers.clear();
  }

  /** Attempts waiting for a worker group no worker serves, per group: a figure for metrics. */
  waitingForUnservedGroups(): Record<string, number> {
    return this.unserved.counts();
  }

  /** Events that matched no live attempt (stale or forged): docs/architecture.md §3.4 counts them. */
  get staleEvents(): number {
    return this.intake.staleEvents;
  }

  /** Attempts rerun because their worker died (metrics, tests). */
  get workerLostAttempts(): number {
    return this.sweeps.workerLostAttempts;
  }

  /** Events of the master's own task types (sub_workflow, dependent, …), reported in-process. */
  report(event: TaskEvent): void {
    this.intake.apply(event, null);
  }

  /** Whether this master drives the instance, or is loading it to. */
  drives(id: number): boolean {
    return this.drivers.has(id) || this.loader.isLoading(id);
  }

  /** Number of instances being driven (tests, metrics). */
  get activeInstances(): number {
    return this.drivers.size;
  }

  /** Queues work for the next group commit (group-commit.ts). */
  schedule(work: (batch: Batch) => void): void {
    this.loop.schedule(work);
  }

  /** Loads an instance of an owned slot and starts driving it (idempotent; instance-loading.ts). */
  load(id: number, mode: StartMode): Promise<void> {
    return this.loader.load(id, mode);
  }

  /** An instance the API of this process created just now, handed over with its definition and project (instance-loading.ts). */
  adopt(instance: WorkflowInstance, definition: WorkflowDefinition, project: Project): boolean {
    return this.loader.adopt(instance, definition, project);
  }

  /** Logs a failed background step, except the end of a retry cut short by stop(). */
  private failed(what: string): (err: unknown) => void {
    return (err) => {
      if (!(err instanceof RetryAborted)) this.log.error(`master: ${what}`, { err });
    };
  }

  private abandon(id: number, reload: boolean): void {
    this.drivers.get(id)?.dispose();
    this.drivers.delete(id);
    if (reload && !this.stopped) setTimeout(() => void this.load(id, "start"), 1000);
  }

  private onWake(msg: WakeMessage): void {
    // Only the owner of an instance's slot drives it (load checks the lease too).
    if ("instanceId" in msg) this.wokenFor(msg.instanceId);
    else if ("instanceIds" in msg) for (const id of msg.instanceIds) this.wokenFor(id);
    else this.claims.claimCommands();
  }

  private wokenFor(id: number): void {
    if (this.loader.held(this.coordinator.slotOf(id))) void this.loader.load(id, "start", true);
  }

  /** An instance the serial queue let in: drive it here, and wake whichever master owns its slot. */
  private startPromoted(id: number): void {
    // Stopping: the row stays SUBMITTED_SUCCESS and the next master start loads it.
    if (this.stopped) return;
    void this.load(id, "start");
    this.bus.publishWake({ instanceId: id }).catch((err) => this.log.warn(`master: could not wake the owner of workflow instance ${id}`, { err }));
  }

  private parts(): MasterParts {
    const { log, host, store, bus, unserved, retryQuiet, tasks, serial, backfills, drivers, records, snapshots } = this;
    const resetAcks = this.recovery.kind === "workers" ? this.recovery.resetAcks : undefined;
    return { log, host, store, bus, unserved, retryQuiet, tasks, serial, backfills, drivers, ...(records ? { records } : {}), ...(snapshots ? { snapshots } : {}), ...(resetAcks ? { resetAcks } : {}), stopped: () => this.stopped, schedule: (work) => this.schedule(work) };
  }
}
