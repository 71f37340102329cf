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

import { isEdgeHost } from "../core/edge-messages.ts";
import { hostname } from "node:os";
import type { Bus, DeliveredEvent, EventConsumer, Unsubscribe } from "../bus/bus.ts";
import type { DispatchVouch } from "../cache/dispatch-vouch.ts";
import type { InstanceHandoff } from "../bus/instance-handoff.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { WorkerBeacons } from "../cache/worker-beacons.ts";
import type { Coordinator, NodeRegistry, SlotChange, SlotLease } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import { controlFits, isTerminalWorkflowState } from "../core/states.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { Command, DispatchRow, Project, Store, TaskInstance, WorkflowInstance } from "../store/store.ts";
import { RetryAborted, retryStore, type StoreRetryOptions } from "../store/retry.ts";
import { UnservedGroups } from "./unserved-groups.ts";
import { Batch } from "./batch.ts";
import type { EventSink, TaskEvent, WakeMessage, WarningEvent } from "../core/messages.ts";
import { type DriverHost, InstanceDriver } from "./instance-driver.ts";
import { type ChildControl, MasterTasks } from "./master-tasks.ts";
import { SerialQueue } from "./serial-queue.ts";
import { type CommandHost, executeCommand } from "./command-execution.ts";
import { masterDriverHost, type MasterParts } from "./master-driver-host.ts";
import { BackfillDriver } from "./backfill.ts";
import type { StartMode } from "./run-options.ts";
import type { RunMetrics } from "../metrics/run-metrics.ts";
import { countCommitted } from "./run-counts.ts";

const SYSTEM = { userId: null, userName: "porpoise" };
const CHILD_CONTROLS = { STOP: "stop", PAUSE: "pause", RESUME: "resume" } as const;

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
/** Commands claimed at once; each is carried out before the next (claimCommands). */
const COMMAND_BATCH = 10;
/** Tries of a command whose execution throws (a bug, bad data — not a store outage) before it is given up. */
const MAX_COMMAND_FAILURES = 3;
/** An event of an active instance that a reload did not bring under a driver is applied again this much later. */
const UNDRIVEN_RETRY_MS = 500;
/** How long a dispatched attempt's cached row must stay missing before its ready task is enqueued again (worker.ts resends events at most 1 s apart). */
const REDISPATCH_AFTER_MS = 2000;

export interface MasterDeps {
  store: Store;
  bus: Bus;
  coordinator: Coordinator;
  log: Logger;
  host?: string;
  /**
   * Restart recovery asks this first (the worker of the same process, `porpoise all`): of the
   * attempts in flight in the Store, the ids whose process outlived the previous porpoise and is
   * being adopted by the worker. They are left as they are, not rerun (docs/architecture.md §3.10).
   */
  adoptInterrupted?: (inFlight: readonly TaskInstance[]) => readonly number[];
  /** The worker groups served (`porpoise all`: its worker's); null or absent = not known here. */
  servedGroups?: () => readonly string[] | null;
  /** A fresh read of the served groups, asked before an attempt is said to wait for an unserved one (a cluster master). */
  confirmServedGroups?: () => Promise<readonly string[] | null>;
  /** Where this master vouches for its dispatches to a worker of the same process (cache/dispatch-vouch.ts). */
  vouch?: DispatchVouch;
  /** Where the API of the same process hands over instances it just created (bus/instance-handoff.ts). */
  handoff?: InstanceHandoff;
  /** Where it puts the rows of its dispatches for workers of other processes (cache/dispatch-records.ts). */
  records?: DispatchRecords;
  /** Where it puts a snapshot of each instance after its commits, for the api's reads (cache/instance-snapshots.ts). */
  snapshots?: InstanceSnapshotWriter;
  /**
   * How attempts whose worker died are found. "restart" (single node): at start, every attempt in
   * flight in the owned slots died with the previous process (except those adopted). "workers" (a
   * cluster node): attempts RUNNING on a worker missing from the registry are rerun, swept every
   * `sweepMs`; at start nothing is assumed about attempts other nodes may be running.
   */
  recovery?: { kind: "restart" } | { kind: "workers"; registry: NodeRegistry; leaseMs: number; sweepMs?: number; restartOf?: string; beacons?: WorkerBeacons };
  /** Task and workflow-run state changes, counted after each group commit (src/metrics/run-metrics.ts); absent: not counted. */
  metrics?: RunMetrics;
}

export class Master implements EventSink {
  private readonly store: Store;
  private readonly bus: Bus;
  private readonly coordinator: Coordinator;
  private readonly adoptInterrupted: MasterDeps["adoptInterrupted"];
  private readonly vouch: DispatchVouch | undefined;
  private readonly handoff: InstanceHandoff | undefined;
  private readonly records: DispatchRecords | undefined;
  private readonly snapshots: InstanceSnapshotWriter | undefined;
  private readonly metrics: RunMetrics | undefined;
  private readonly recovery: NonNullable<MasterDeps["recovery"]>;
  readonly log: Logger;
  readonly host: string;
  private readonly drivers = new Map<number, InstanceDriver>();
  private readonly loading = new Map<number, Promise<void>>();
  private readonly definitions = new Map<string, Promise<WorkflowDefinition>>();
  private queue: ((batch: Batch) => void)[] = [];
  private flushing: Promise<void> | null = null;
  /** The group commit in flight (one at a time: flush awaits each). */
  private committing: Promise<unknown> | null = null;
  private unsubscribe: Unsubscribe | null = null;
  private events: EventConsumer | null = null;
  private offChange: (() => void) | null = null;
  /**
   * The slots this master drives, as of the coordinator's last change it heard. Not
   * coordinator.lease(): for a slot just reported lost that still answers with the last lease it
   * saw (this node's), and a slot being given up stays this node's in the Store until the release
   * (the drain, coordinator.ts SlotListener) — a driver made meanwhile would write under a slot
   * whose next owner is about to load its instances without those writes.
   */
  private ownedSlots = new Set<number>();
  /** Delivered events recorded by the running group commit, acked after it. */
  private toAck: DeliveredEvent[] = [];
  /** Instances whose ops the running group commit saw refused (stale): their events are applied again after a reload, not acked. */
  private refusedInBatch = new Set<number>();
  private workerSweep: ReturnType<typeof setInterval> | null = null;
  private sweepingWorkers: Promise<void> | null = null;
  private reconciling: Promise<void> | null = null;
  /** When a store call last failed or recovered from an outage (sweepDeadWorkers waits a lease after it). */
  private storeTroubleAt = 0;
  /** Dispatched attempts whose cached row was missing, since when (redispatchLost). */
  private lostSince = new Map<string, number>();
  /** Attempts rerun because their worker died (metrics, tests). */
  workerLostAttempts = 0;
  private claiming: Promise<void> | null = null;
  /** Commands claimed in the current batch and not started yet: stop() gives them back first. */
  private unstarted: Command[] = [];
  private claimAgain = false;
  /**
   * The claim loop re-opens the orphaned claims of the owned slots (CLAIMED by another node, or by
   * this node id with no claim of this process behind it) before it next claims
   * (docs/architecture.md §3.5): set at start, on acquiring slots, by the sweeps.
   */
  private reopenDue = false;
  private claimLater: ReturnType<typeof setTimeout> | null = null;
  /** Commands whose execution threw (not a store outage: those are retried in place), how often: given up after MAX_COMMAND_FAILURES. */
  private readonly commandFailures = new Map<number, number>();
  private stopped = false;
  /** Aborted by stop(): releases loads whose scheduled work will never run once the queue stops. */
  private readonly stopping = new AbortController();
  private readonly tasks: MasterTasks;
  private readonly driverHost: DriverHost;
  private readonly serial: SerialQueue;
  private readonly backfills: BackfillDriver;
  private readonly commandHost: CommandHost;
  /** How every store call of the engine waits out an outage (store/retry.ts). */
  private readonly retry: StoreRetryOptions;
  /** The same, without starting another sweep when it recovers (the sweep's own calls). */
  private readonly retryQuiet: StoreRetryOptions;
  /** Attempts waiting for a worker group nobody serves, per group (issue 9 item 15): `waitingForUnservedGroups()`. */
  private readonly unserved: UnservedGroups;
  private sweeping: Promise<void> | null = null;
  private sweepAgain = false;
  /** How often an event was applied again because its reloaded instance was not driven (settleUndriven). */
  private readonly undrivenTries = new WeakMap<DeliveredEvent, number>();
  /** Events that matched no live attempt (stale or forged): docs/architecture.md §3.4 counts them. */
  staleEvents = 0;

  constructor(deps: MasterDeps) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.coordinator = deps.coordinator;
    this.adoptInterrupted = deps.adoptInterrupted;
    this.vouch = deps.vouch;
    this.handoff = deps.handoff;
    this.records = deps.records;
    this.snapshots = deps.snapshots;
    this.metrics = deps.metrics;
    this.recovery = deps.recovery ?? { kind: "restart" };
    this.log = deps.log;
    this.host = deps.host ?? hostname();
    this.retryQuiet = { log: this.log, signal: this.stopping.signal };
    this.retry = { ...this.retryQuiet, onRecovered: () => this.afterOutage() };
    this.unserved = new UnservedGroups(deps.servedGroups ?? (() => null), deps.confirmServedGroups);
    this.serial = new SerialQueue({ store: this.store, log: this.log, start: (id) => this.startPromoted(id), ended: (i) => i.backfillId !== null && void this.backfills.advance(i.backfillId), advanceBackfill: (id) => void this.backfills.advance(id) });
    this.backfills = new BackfillDriver({ store: this.store, log: this.log, slotOf: (id) => this.coordinator.slotOf(id), start: (id) => this.startPromoted(id) });
    this.tasks = new MasterTasks({ store: this.store, log: this.log, slotOf: (id) => this.coordinator.slotOf(id), report: (e) => this.report(e), load: (id) => this.load(id, "start"), control: (id, kind) => this.enqueueControl(id, kind) });
    this.driverHost = masterDriverHost(this.parts());
    this.commandHost = {
      store: this.store,
      coordinator: this.coordinator,
      log: this.log,
      serial: this.serial,
      driver: (id) => this.drivers.get(id),
      loading: (id) => this.loading.get(id),
      load: (id, mode) => this.load(id, mode),
      commit: (c, work, mark) => this.commitCommand(c, work, mark),
    };
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.bus.subscribeWakes((msg) => this.onWake(msg));
    this.vouch?.serve((rt) => this.drivers.get(rt.workflowInstanceId)?.dispatched(rt.taskInstanceId, rt.attempt, rt.token));
    this.handoff?.serve((instance, definition, project) => this.adopt(instance, definition, project));
    this.events = this.bus.consumeEvents(this.coordinator.nodeId, (events) => this.onEvents(events));
    // Slots acquired from now on are taken over as they come; the ones held already are loaded here.
    this.offChange = this.coordinator.onChange((change) => this.slotsChanged(change));
    const slots = this.coordinator.ownedSlots();
    this.ownedSlots = new Set(slots);
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
      this.workerSweep = setInterval(() => {
        this.sweepDeadWorkers();
        this.reconcile();
      }, every);
      this.workerSweep.unref?.();
    }
    this.events.setSlots(slots);
    for (const instance of await this.store.instances.listActive({ slots })) await this.load(instance.id, "start");
    await this.serial.recover();
    await this.backfills.recover();
    // Claims of an earlier life of this node id (restart of `all`), and of dead masters, are carried out again.
    this.reopenDue = true;
    this.claimCommands();
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
    const inFlight = change.lost.length > 0 ? this.committing : null;
    this.ownedSlots = new Set(this.coordinator.ownedSlots());
    this.events?.setSlots(this.coordinator.ownedSlots());
    if (change.acquired.length > 0) {
      const slots = change.acquired.map((l) => l.slot);
      // Nothing of a slot just acquired may be driven yet: a driver left from an earlier lease
      // would act on what it read then (see drive()).
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
        this.reopenDue = true;
        this.claimCommands();
      })().catch(this.failed("taking over acquired slots failed"));
    }
    return inFlight ?? undefined;
  }

  /**
   * Wakes are lossy (a Redis hiccup, another `all` node's in-process bus): every sweep period the
   * active instances of the owned slots that nobody drives here are loaded, and commands claimed.
   */
  private reconcile(): void {
    if (this.stopped || this.reconciling) return;
    this.reconciling = (async () => {
      const slots = this.coordinator.ownedSlots();
      if (slots.length === 0) return;
      const active = await this.store.instances.listActive({ slots });
      for (const instance of active) if (!this.drivers.has(instance.id) && !this.loading.has(instance.id) && instance.state !== "SERIAL_WAIT") void this.load(instance.id, "start");
      this.reopenDue = true;
      this.claimCommands();
      await this.redispatchLost();
    })()
      .catch(this.failed("the reconciliation sweep failed"))
      .finally(() => (this.reconciling = null));
  }

  /**
   * Ready tasks Redis lost (FLUSHALL, a restart without persistence) are enqueued again from the
   * Store's truth held here (docs/architecture.md §3.1). The sign of the loss is the attempt's
   * cached dispatch row (put with the enqueue, dropped once RUNNING is recorded) missing on two
   * sweeps at least REDISPATCH_AFTER_MS apart: by then a worker that took the attempt before the
   * loss has resent its "running" (worker.ts resends unpublished events), so the copy is not run
   * twice — and a copy that is run twice anyway is refused by token after the first result.
   */
  private async redispatchLost(): Promise<void> {
    const records = this.records;
    if (!records) return;
    const now = Date.now();
    const candidates = [...this.drivers.values()].flatMap((driver) => driver.dispatchedAttempts().map((rec) => ({ driver, rec })));
    const lost = await Promise.all(candidates.map(({ rec }) => records.lost(rec.id!)));
    const still = new Map<string, number>();
    let requeued = 0;
    candidates.forEach(({ driver, rec }, i) => {
      if (!lost[i]) return;
      const key = `${rec.id}:${rec.attempt}:${rec.token}`;
      const since = this.lostSince.get(key) ?? now;
      if (now - since < REDISPATCH_AFTER_MS) still.set(key, since);
      else {
        driver.redispatch(rec);
        requeued++;
      }
    });
    this.lostSince = still;
    if (requeued > 0) this.log.warn(`master: ${requeued} dispatched task attempts were no longer in Redis (flushed or restarted); enqueued them again`);
  }

  /**
   * Attempts RUNNING on a worker that left the registry (its heartbeat is older than the lease)
   * are rerun elsewhere as NEED_FAULT_TOLERANCE, without using a retry (docs/architecture.md §3.10).
   * Their drivers are reloaded from the Store, whose recovery dispatches the next attempt.
   */
  private sweepDeadWorkers(): void {
    if (this.stopped || this.sweepingWorkers || this.recovery.kind !== "workers") return;
    const { registry, leaseMs, beacons } = this.recovery;
    // After a store outage every heartbeat is old: the workers could not write them either. They get
    // a lease from the end of the outage to beat again before any is taken for dead (outage-postgres.test.ts).
    if (Date.now() - this.storeTroubleAt < leaseMs) return;
    this.sweepingWorkers = (async () => {
      const slots = this.coordinator.ownedSlots();
      if (slots.length === 0) return;
      const inFlight = await this.store.taskInstances.listInFlight({ slots });
      // Edge workers are not in the registry: the gateway reruns their attempts (api/edge/edge-sweep.ts).
      const running = inFlight.filter((t) => t.state === "RUNNING_EXECUTION" && t.host !== null && !isEdgeHost(t.host));
      if (running.length === 0) return;
      // 1.5 leases: a worker cut off from the registry and Redis stops its own attempts after one
      // lease (worker/lease-watch.ts), so by the time they run again elsewhere the old copies are gone.
      const deadAfter = Math.round(leaseMs * 1.5);
      const live = new Set([...(await registry.liveNodes("worker", deadAfter)), ...(await registry.liveNodes("all", deadAfter))]);
      const silent = [...new Set(running.map((t) => t.host!).filter((h) => !live.has(h)))];
      // Cut off from Postgres is not dead: a worker that still beats in Redis runs its attempts on (cache/worker-beacons.ts).
      const beaconing = beacons ? await beacons.alive(silent) : new Set<string>();
      const dead = silent.filter((h) => !beaconing.has(h));
      for (const host of dead) {
        const lostOnes = running.filter((t) => t.host === host);
        const instances = [...new Set(lostOnes.map((t) => t.workflowInstanceId))].filter((id) => this.drivers.has(id));
        // Stop driving them first, so no batch writes over the rows marked below; reload after.
        for (const id of instances) this.abandon(id, false);
        const marked = await this.store.taskInstances.markInterrupted({ host, slots });
        this.workerLostAttempts += marked.length;
        if (marked.length > 0) this.log.warn(`master: worker ${host} is gone (no heartbeat for ${deadAfter} ms); ${marked.length} of its task attempts run again elsewhere`);
        for (const id of instances) void this.load(id, "start");
      }
    })()
      .catch((err) => {
        this.storeTroubleAt = Date.now();
        this.failed("the sweep for dead workers failed")(err);
      })
      .finally(() => (this.sweepingWorkers = null));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    // First, while the shutdown deadline is far: claimed commands not started go back to PENDING.
    const unstarted = this.unstarted;
    this.unstarted = [];
    await Promise.all(unstarted.map((c) => this.giveBack(c)));
    this.unsubscribe?.();
    this.offChange?.();
    if (this.workerSweep) clearInterval(this.workerSweep);
    this.snapshots?.close();
    if (this.claimLater) clearTimeout(this.claimLater);
    this.vouch?.serve(null);
    this.handoff?.serve(null);
    await this.events?.close();
    await this.sweepingWorkers;
    await this.reconciling;
    await Promise.allSettled([...this.loading.values()]);
    await this.flushing;
    await this.claiming;
    await this.sweeping;
    for (const driver of this.drivers.values()) driver.dispose();
    this.tasks.stopAll();
    this.drivers.clear();
  }

  /** Attempts waiting for a worker group no worker serves, per group: a figure for metrics. */
  waitingForUnservedGroups(): Record<string, number> {
    return this.unserved.counts();
  }

  /** Events of the master's own task types (sub_workflow, dependent, …), reported in-process. */
  report(event: TaskEvent): void {
    this.apply(event, null);
  }

  /** Worker events from the event streams of the owned slots; each is acked after the commit that records it. */
  private onEvents(events: readonly DeliveredEvent[]): void {
    for (const d of events) {
      const id = d.event.workflowInstanceId;
      if (this.drivers.has(id) || this.stopped) this.apply(d.event, d);
      else {
        // Not driven here yet (a slot just taken over, an instance still loading): load it first,
        // then apply; an event of an instance that has ended, or is not ours, is stale then.
        void this.load(id, "start").then(() => this.apply(d.event, d, true));
      }
    }
  }

  /** `loaded`: the instance was (re)loaded for this event just before; without a driver now, the event is stale. */
  private apply(event: TaskEvent, delivered: DeliveredEvent | null, loaded = false): void {
    if (event.kind === "warning") {
      this.recordWarning(event);
      if (delivered) void this.bus.ackEvents([delivered]).catch(() => {});
      return;
    }
    this.unserved.settle(event.taskInstanceId);
    this.schedule((batch) => {
      const driver = this.drivers.get(event.workflowInstanceId);
      const before = driver?.stale ?? 0;
      if (!driver && delivered && !this.held(event.slot)) {
        // Read just before its slot moved: left pending in the stream, the new owner takes it over.
        return;
      }
      if (!driver && delivered && !loaded && !this.stopped) {
        // Queued while its instance was driven, and the driver was dropped since (a refused
        // commit abandons it): load the instance again and apply it there. Counted stale and acked
        // only if the reload drives nothing (ended, not ours); acking it now lost results and left
        // their attempts RUNNING forever (failover.test.ts: "refused a stale done event" of an
        // attempt the Store had RUNNING).
        void this.load(event.workflowInstanceId, "start").then(() => this.apply(event, delivered, true));
        return;
      }
      if (!driver && delivered && loaded && !this.stopped) {
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
      if (!driver || driver.stale !== before) this.log.info(`master: refused a stale ${event.kind} event of task instance ${event.taskInstanceId} attempt ${event.attempt} (${this.staleEvents} refused so far)`);
      if (delivered) {
        const id = event.workflowInstanceId;
        // Recorded only if the commit applied the instance's ops: an event whose write was refused
        // (the slot's lease lapsed and was taken again, a row changed underneath) is applied again
        // on the reloaded instance. Acking it would lose it: the reload finds the attempt still
        // RUNNING and nothing ever ends it (test/cluster/failover.test.ts froze instances so).
        batch.after(() => {
          if (!this.refusedInBatch.has(id)) this.toAck.push(delivered);
          else void this.load(id, "start").then(() => this.apply(delivered.event, delivered, true));
        });
      }
      // Started: a copy of its ready task offered again must read the Store, not a cached DISPATCH row.
      if (event.kind === "running" && this.records) batch.after(() => this.records!.drop(event.taskInstanceId));
    });
  }

  /**
   * An event whose instance a reload did not bring back under a driver: stale (acked) if the
   * instance has ended or is gone; applied again after a moment if it is still active in a slot
   * held here; left pending for the new owner otherwise.
   */
  private async settleUndriven(event: TaskEvent, delivered: DeliveredEvent): Promise<void> {
    try {
      const instance = await retryStore(`reading workflow instance ${event.workflowInstanceId}`, () => this.store.instances.get(event.workflowInstanceId), this.retryQuiet);
      if (this.stopped) return;
      if (instance && !isTerminalWorkflowState(instance.state) && instance.state !== "SERIAL_WAIT") {
        if (!this.held(event.slot)) return;
        const tries = (this.undrivenTries.get(delivered) ?? 0) + 1;
        this.undrivenTries.set(delivered, tries);
        setTimeout(() => this.apply(event, delivered), Math.min(UNDRIVEN_RETRY_MS * 2 ** (tries - 1), 10_000));
        return;
      }
      this.staleEvents++;
      this.log.info(`master: refused a stale ${event.kind} event of task instance ${event.taskInstanceId} attempt ${event.attempt} (${this.staleEvents} refused so far)`);
      await this.bus.ackEvents([delivered]);
    } catch (err) {
      this.failed(`settling an event of task instance ${event.taskInstanceId}`)(err);
    }
  }

  /**
   * A WARN timeout: on the attempt (its `warning`) and as an alert event, one transaction of its
   * own — not a state change, so not part of the driver's batch; fenced by attempt and token.
   */
  private recordWarning(e: WarningEvent): void {
    // Retried while the store is away (a lost warning would be a silent one); dropped on shutdown.
    retryStore(`recording the timeout warning of task instance ${e.taskInstanceId}`, () => this.store.taskInstances.recordWarning({ id: e.taskInstanceId, attempt: e.attempt, token: e.token, message: e.message }), this.retryQuiet)
      .then((recorded) => {
        if (!recorded) return;
        this.log.warn(`task instance ${e.taskInstanceId}: ${e.message}`);
        this.snapshots?.warned(e.workflowInstanceId, e.taskInstanceId, e.message);
      })
      .catch((err) => {
        if (!(err instanceof RetryAborted)) this.log.error(`master: could not record the timeout warning of task instance ${e.taskInstanceId}`, { err });
      });
  }

  /** Whether this master drives the instance, or is loading it to. */
  drives(id: number): boolean {
    return this.drivers.has(id) || this.loading.has(id);
  }

  /** Number of instances being driven (tests, metrics). */
  get activeInstances(): number {
    return this.drivers.size;
  }

  // ── The loop ─────────────────────────────────────────────────────────────────────────

  schedule(work: (batch: Batch) => void): void {
    if (this.stopped) return;
    this.queue.push(work);
    if (!this.flushing) this.flushing = nextTurn().then(() => this.flush());
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const work = this.queue.length <= MAX_BATCH_ITEMS ? this.queue : this.queue.splice(0, MAX_BATCH_ITEMS);
        if (work === this.queue) this.queue = [];
        const batch = new Batch();
        for (const item of work) {
          try {
            item(batch);
          } catch (err) {
            this.log.error("master: handling an event failed", { err });
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
          this.log.error("master: a batch could not be written; reloading its workflow instances from the store", { err });
          for (const id of batch.owned()) this.abandon(id, true);
          continue;
        }
        this.refusedInBatch = batch.settle(outcomes);
        if (this.metrics) countCommitted(this.metrics, batch.ops, outcomes, this.drivers);
        for (const id of this.refusedInBatch) {
          this.log.warn(`master: workflow instance ${id} was written by someone else (stale epoch or state); no longer driving it here`);
          this.abandon(id, false);
        }
        batch.runEffects((err) => this.log.error("master: an after-commit effect failed", { err }));
        // After the effects (the successors are enqueued first): marks the instances whose snapshot to rewrite.
        this.snapshots?.committed(batch.ops, outcomes);
        this.refusedInBatch = new Set();
        if (this.toAck.length > 0) {
          const acks = this.toAck;
          this.toAck = [];
          this.bus.ackEvents(acks).catch((err) => this.log.warn("master: could not ack recorded task events; they may be delivered again (and dropped as stale)", { err }));
        }
        await nextTurn();
      }
    } finally {
      this.flushing = null;
      if (this.queue.length > 0 && !this.stopped) this.flushing = nextTurn().then(() => this.flush());
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
  private commit(batch: Batch): Promise<import("../store/store.ts").TaskBatchOutcome[]> {
    if (batch.ops.length === 0) return Promise.resolve([]);
    const id = crypto.randomUUID();
    const committing = retryStore("the master's group commit", (attempt) => this.store.taskInstances.applyBatch(batch.ops, { id, retry: attempt > 0 }), this.retry);
    this.committing = committing;
    void committing.catch(() => {}).finally(() => {
      if (this.committing === committing) this.committing = null;
    });
    return committing;
  }

  /**
   * After an outage: whatever missed a wake or a command meanwhile is picked up from the Store.
   * Recoveries during a sweep (many calls come back at once) coalesce into one more sweep.
   */
  private afterOutage(): void {
    this.storeTroubleAt = Date.now();
    if (this.stopped) return;
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    this.sweeping = (async () => {
      do {
        this.sweepAgain = false;
        const slots = this.coordinator.ownedSlots();
        const active = await retryStore("listing active workflow instances", () => this.store.instances.listActive({ slots }), this.retryQuiet);
        for (const instance of active) if (!this.drivers.has(instance.id)) void this.load(instance.id, "start");
        // A give-back that failed during the outage left claims of ours behind.
        this.reopenDue = true;
        this.claimCommands();
        await this.serial.recover();
        await this.backfills.recover();
      } while (this.sweepAgain && !this.stopped);
    })()
      .catch(this.failed("the sweep after a store outage failed"))
      .finally(() => (this.sweeping = null));
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

  // ── Loading instances ────────────────────────────────────────────────────────────────

  /** Loads an instance of an owned slot and starts driving it (idempotent). */
  load(id: number, mode: StartMode): Promise<void> {
    if (this.drivers.has(id)) return Promise.resolve();
    const running = this.loading.get(id);
    if (running) return running;
    const p = retryStore(`loading workflow instance ${id}`, () => this.doLoad(id, mode), this.retry)
      .catch(this.failed(`could not load workflow instance ${id}`))
      .finally(() => this.loading.delete(id));
    this.loading.set(id, p);
    return p;
  }

  /** This node's lease of `slot` while it drives the slot (see ownedSlots); null otherwise. */
  private held(slot: number): SlotLease | null {
    if (!this.ownedSlots.has(slot)) return null;
    const lease = this.coordinator.lease(slot);
    return lease && lease.owner === this.coordinator.nodeId ? lease : null;
  }

  private async doLoad(id: number, mode: StartMode): Promise<void> {
    const instance = await this.store.instances.get(id);
    // A waiting instance is started by the serial queue (SERIAL_WAIT → SUBMITTED_SUCCESS) only.
    if (!instance || isTerminalWorkflowState(instance.state) || instance.state === "SERIAL_WAIT") return;
    const lease = this.held(instance.slot);
    if (!lease) return;
    const definition = await this.definition(instance.workflowId, instance.workflowVersion);
    const project = await this.store.projects.getById(instance.projectId);
    const rows = await this.store.taskInstances.listForInstance(id);
    // A control that submitted it again (possibly long ago, before SERIAL_WAIT or a restart) says how to start it.
    const pending = instance.state === "SUBMITTED_SUCCESS" ? instance.pendingControl : null;
    const effective: StartMode = mode === "start" && pending ? pending : mode === "start" && rows.length > 0 ? "restart" : mode;
    await this.drive(instance, definition, project, lease.epoch, rows, effective);
  }

  /**
   * An instance the API of this process created just now (`porpoise all`, through the InstanceHandoff), handed over with the
   * definition and project it was checked against, instead of a wake: the Store reads of a load
   * (instance, project, its task rows — a fresh instance has none) are skipped. Those were three
   * of the ~15 sequential round trips between POST …/run and the first task running; on a loaded
   * 2-core box a Postgres round trip costs 1–4 ms. false — not SUBMITTED_SUCCESS, not a slot of
   * this master, or known here already: the caller wakes the master the usual way.
   */
  adopt(instance: WorkflowInstance, definition: WorkflowDefinition, project: Project): boolean {
    const id = instance.id;
    if (this.stopped || instance.state !== "SUBMITTED_SUCCESS" || instance.pendingControl || this.drivers.has(id) || this.loading.has(id)) return false;
    const lease = this.held(instance.slot);
    if (!lease) return false;
    const p = this.drive(instance, definition, project, lease.epoch, [], "start")
      .catch((err) => this.log.error(`master: could not load workflow instance ${id}`, { err }))
      .finally(() => this.loading.delete(id));
    this.loading.set(id, p);
    return true;
  }

  private async drive(instance: WorkflowInstance, definition: WorkflowDefinition, project: Project | null, epoch: number, rows: TaskInstance[], effective: StartMode): Promise<void> {
    const id = instance.id;
    if (this.stopped) return;
    await new Promise<void>((resolve) => {
      // Once stopped, queued work is dropped: without this, stop() would wait for this load forever.
      const onStop = () => resolve();
      this.stopping.signal.addEventListener("abort", onStop, { once: true });
      this.schedule((batch) => {
        this.stopping.signal.removeEventListener("abort", onStop);
        resolve();
        if (this.drivers.has(id)) return;
        // The slot was lost (and maybe taken again, at a newer epoch) while this load read the
        // Store: a driver made now would outlive the loss, and when the slot came back it would be
        // used as it is — without what another master wrote meanwhile — and refuse those attempts'
        // events as stale (failover.test.ts a: 14 instances RUNNING for good). The current lease's
        // own load drives it.
        const now = this.held(instance.slot);
        if (!now || now.epoch !== epoch) {
          if (now && !this.stopped) setTimeout(() => void this.load(id, "start"), 0);
          return;
        }
        const driver = new InstanceDriver(this.driverHost, instance, definition, project?.params ?? {}, epoch, project?.name ?? "");
        this.drivers.set(id, driver);
        this.snapshots?.track(instance, "workflowName" in instance ? (instance.workflowName as string) : definition.name, rows, definition.tasks.length, epoch);
        driver.start(batch, rows, effective);
      });
    });
  }

  private definition(workflowId: number, version: number): Promise<WorkflowDefinition> {
    const key = `${workflowId}:${version}`;
    let p = this.definitions.get(key);
    if (!p) {
      p = this.store.workflows.getVersion(workflowId, version).then((v) => {
        if (!v) throw new Error(`workflow ${workflowId} version ${version} is gone`);
        return v.definition;
      });
      p.catch(() => this.definitions.delete(key));
      this.definitions.set(key, p);
    }
    return p;
  }

  // ── Commands ─────────────────────────────────────────────────────────────────────────

  private onWake(msg: WakeMessage): void {
    if ("instanceId" in msg) {
      // Only the owner of the instance's slot drives it (load checks the lease too).
      if (this.held(this.coordinator.slotOf(msg.instanceId))) void this.load(msg.instanceId, "start");
    } else this.claimCommands();
  }

  private claimCommands(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = (async () => {
      do {
        this.claimAgain = false;
        for (;;) {
          const slots = this.coordinator.ownedSlots();
          if (this.reopenDue) {
            // Here, between claim rounds, this process holds no claim of its own (each was carried
            // out or given back), so its node id's CLAIMED rows in its slots are orphans too.
            this.reopenDue = false;
            const reopened = await retryStore("re-opening orphaned commands", () => this.store.commands.reopen(slots, this.coordinator.nodeId, false), this.retry);
            if (reopened.length > 0) this.log.info(`master: ${reopened.length} commands claimed by a master that did not carry them out are pending again (${reopened.slice(0, 10).join(",")}${reopened.length > 10 ? ",…" : ""})`);
          }
          // Only commands of instances in the slots held now (docs/architecture.md §3.3), a few at a
          // time: a slot that moves while they are carried out (each waits for its Store steps) takes
          // its commands along — they are given back, PENDING, for the new owner (churn.test.ts).
          const commands = await retryStore(
            "claiming commands",
            () => this.store.commands.claimNext(this.coordinator.nodeId, COMMAND_BATCH, { types: ["STOP", "PAUSE", "RESUME", "RERUN", "RECOVER_FAILED", "FORCE_SUCCESS", "KILL_TASK"], slots }),
            this.retry,
          );
          // A claimed command is CLAIMED until its effect commits: store failures of its steps are retried;
          // given up (stopping), it goes back to PENDING, or stays CLAIMED for the slot's next owner to re-open.
          this.unstarted = [...commands];
          let retry = false;
          for (const c of commands) {
            if (this.unstarted[0] !== c) continue; // given back by stop() meanwhile
            this.unstarted.shift();
            const outcome = this.stopped ? "not-owned" : await retryStore(`command ${c.id} (${c.type})`, () => executeCommand(this.commandHost, c), this.retry).catch((err) => {
              if (err instanceof RetryAborted) return "not-owned" as const; // stopping: the next owner carries it out
              return this.commandFailed(c, err);
            });
            if (outcome !== "done") await this.giveBack(c);
            else if (this.commandFailures.size > 0) this.commandFailures.delete(c.id);
            if (outcome === "retry") retry = true;
          }
          if (retry) this.claimSoon();
          if (commands.length < COMMAND_BATCH) break;
        }
      } while (this.claimAgain && !this.stopped);
    })()
      .catch(this.failed("claiming commands failed"))
      .finally(() => {
        this.claiming = null;
      });
  }

  /**
   * A command whose execution threw is tried again a few times (what it changed so far is safe to
   * repeat), then consumed with an error: a command that always fails must not hold the loop.
   */
  private async commandFailed(c: Command, err: unknown): Promise<"retry" | "done"> {
    const failures = (this.commandFailures.get(c.id) ?? 0) + 1;
    if (failures < MAX_COMMAND_FAILURES) {
      this.commandFailures.set(c.id, failures);
      this.log.error(`master: command ${c.id} (${c.type}) failed; it is tried again`, { err });
      return "retry";
    }
    this.commandFailures.delete(c.id);
    this.log.error(`master: command ${c.id} (${c.type}) failed ${failures} times; it is given up (consumed, not carried out)`, { err });
    await this.store.commands.complete(c.id, this.coordinator.nodeId).catch(() => false);
    return "done";
  }

  /**
   * A command whose write was refused (its driver went stale and is reloaded) is claimed again a
   * moment later, not at once: the reload has to happen first, and a wake may never come (`all`).
   */
  private claimSoon(): void {
    if (this.stopped || this.claimLater) return;
    this.claimLater = setTimeout(() => {
      this.claimLater = null;
      this.claimCommands();
    }, 1000);
    this.claimLater.unref?.();
  }

  /**
   * Schedules `work` into the next group commit together with the command's done-mark, which
   * applies only if every op `work` added did, or waits for its effects (command-execution.ts
   * CommandHost.commit).
   */
  private commitCommand(c: Command, work: (batch: Batch) => boolean, mark: "batch" | "effects"): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (this.stopped) return resolve(false);
      // Once stopped, queued work is dropped: the command is given back (see drive()).
      const onStop = () => resolve(false);
      this.stopping.signal.addEventListener("abort", onStop, { once: true });
      this.schedule((batch) => {
        this.stopping.signal.removeEventListener("abort", onStop);
        const first = batch.ops.length;
        let ran = false;
        try {
          ran = work(batch);
        } finally {
          if (!ran) resolve(false);
        }
        if (!ran) return;
        const after = Array.from({ length: batch.ops.length - first }, (_, i) => first + i);
        if (mark === "batch") batch.add(null, { op: "command", id: c.id, consumer: this.coordinator.nodeId, after }, (o) => resolve(o.outcome === "applied"));
        // Effects run in the order added: this one after the work's own.
        else batch.after(() => resolve(batch.applied(after)));
        batch.onAbort(() => resolve(false));
      });
    });
  }

  /** A claimed command this master did not carry out goes back to PENDING (its slot's owner takes it). */
  private async giveBack(c: Command): Promise<void> {
    // Not tied to the stop signal: a stopping master gives back what it claimed (for up to 5 s of outage).
    await retryStore(`giving command ${c.id} back`, () => this.store.commands.release(c.id, this.coordinator.nodeId), { log: this.log, signal: AbortSignal.timeout(5000) }).catch((err) => {
      // Not lost: it stays CLAIMED, and the slot's owner re-opens it in its next sweep (this master's own, or the next owner's).
      if (!(err instanceof RetryAborted)) this.log.error(`master: could not give command ${c.id} back; it stays claimed until its slot's owner re-opens it`, { err });
    });
  }

  /** A control of a sub_workflow child, issued by its parent (stop and pause cascade, resume of a paused child). */
  private async enqueueControl(instanceId: number, kind: ChildControl): Promise<void> {
    const instance = await this.store.instances.get(instanceId);
    if (!instance || !controlFits(CHILD_CONTROLS[kind], instance.state)) return;
    await this.store.commands.enqueue({ type: kind, projectId: instance.projectId, workflowId: instance.workflowId, workflowInstanceId: instanceId }, SYSTEM);
    this.claimCommands();
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
    return { log, host, store, bus, unserved, retryQuiet, tasks, serial, backfills, drivers, ...(records ? { records } : {}), ...(snapshots ? { snapshots } : {}), schedule: (work) => this.schedule(work) };
  }
}
