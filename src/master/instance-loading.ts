// How a master comes to drive a workflow instance (master.ts): it loads the instance from the
// Store (or takes it over from the API of the same process), checks that it holds the instance's
// slot, and makes its InstanceDriver inside a group commit — only if the slot's lease is still the
// one the load read under. Also the cache of workflow definitions the loads share.

import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import type { Coordinator, SlotLease } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import { isTerminalWorkflowState } from "../core/states.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import { retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { Project, Store, TaskInstance, WorkflowInstance } from "../store/store.ts";
import type { Batch } from "./batch.ts";
import { type DriverHost, InstanceDriver } from "./instance-driver.ts";
import type { StartMode } from "./run-options.ts";

/** What loading instances needs of its master. */
export interface InstanceLoadingHost {
  store: Store;
  coordinator: Coordinator;
  log: Logger;
  /** How every store call of the engine waits out an outage (store/retry.ts). */
  retry: StoreRetryOptions;
  /** The instances the master drives, by id: a load adds its driver here. */
  drivers: Map<number, InstanceDriver>;
  /** What the master gives each of its drivers. */
  driverHost: DriverHost;
  snapshots?: InstanceSnapshotWriter | undefined;
  /** Aborted by stop(): releases loads whose scheduled work will never run once the queue stops. */
  stopping: AbortSignal;
  stopped(): boolean;
  schedule(work: (batch: Batch) => void): void;
  /** Logs a failed background step, except the end of a retry cut short by stop(). */
  failed(what: string): (err: unknown) => void;
}

/** How to start a loaded instance: a control that submitted it again (possibly long ago, before SERIAL_WAIT or a restart) says how; one that has rows already restarts. */
function effectiveMode(instance: WorkflowInstance, mode: StartMode, rows: readonly TaskInstance[]): StartMode {
  const pending = instance.state === "SUBMITTED_SUCCESS" ? instance.pendingControl : null;
  return mode === "start" && pending ? pending : mode === "start" && rows.length > 0 ? "restart" : mode;
}

export class InstanceLoading {
  private readonly loading = new Map<number, Promise<void>>();
  /** Woken instances waiting for this turn's read (loadWoken). */
  private woken: { id: number; done: () => void }[] = [];
  private readonly definitions = new Map<string, Promise<WorkflowDefinition>>();
  /**
   * The slots this master drives, as of the coordinator's last change it heard. Not
   * coordinator.lease(): for a slot just reported lost that still answers with the last lease it
   * saw (this node's), and a slot being given up stays this node's in the Store until the release
   * (the drain, coordinator.ts SlotListener) — a driver made meanwhile would write under a slot
   * whose next owner is about to load its instances without those writes.
   */
  private ownedSlots = new Set<number>();

  constructor(private readonly host: InstanceLoadingHost) {}

  /** The slots driven from now on (the coordinator's last change). */
  own(slots: readonly number[]): void {
    this.ownedSlots = new Set(slots);
  }

  /** Whether a load of `id` is in progress. */
  isLoading(id: number): boolean {
    return this.loading.has(id);
  }

  /** The load of `id` in progress, if any. */
  inProgress(id: number): Promise<void> | undefined {
    return this.loading.get(id);
  }

  /** Every load in progress (stop() waits for them). */
  all(): Promise<void>[] {
    return [...this.loading.values()];
  }

  /**
   * Loads an instance of an owned slot and starts driving it (idempotent). `woken`: a wake for an
   * instance just created (master.ts onWake): the wakes heard in one turn of the event loop are
   * read together (loadWoken).
   */
  load(id: number, mode: StartMode, woken = false): Promise<void> {
    if (this.host.drivers.has(id)) return Promise.resolve();
    const running = this.loading.get(id);
    if (running) return running;
    const p = woken
      ? new Promise<void>((resolve) => {
          this.woken.push({ id, done: resolve });
          if (this.woken.length === 1) setImmediate(() => void this.loadWoken());
        })
      : retryStore(`loading workflow instance ${id}`, () => this.doLoad(id, mode, false), this.host.retry).catch(this.host.failed(`could not load workflow instance ${id}`));
    const tracked = p.finally(() => this.loading.delete(id));
    this.loading.set(id, tracked);
    return tracked;
  }

  /**
   * The instances woken for in one turn. Alone, one round of three parallel reads (doLoad). A
   * burst (a second's cron fires, a backfill, many runs triggered at once) is read in three
   * statements for all of them, not three per run: with 10,000 schedules on 3 masters each master
   * loaded ~56 runs at a time one by one, and its event loop stalled 25-110 ms doing so
   * (docs/architecture.md §8).
   */
  private async loadWoken(): Promise<void> {
    const batch = this.woken;
    this.woken = [];
    const ids = batch.map((b) => b.id);
    const what = ids.length === 1 ? `loading workflow instance ${ids[0]}` : `loading ${ids.length} workflow instances`;
    try {
      await retryStore(what, () => (ids.length === 1 ? this.doLoad(ids[0]!, "start", true) : this.doLoadMany(ids)), this.host.retry);
    } catch (err) {
      this.host.failed(`could not load workflow instance${ids.length === 1 ? "" : "s"} ${ids.join(", ")}`)(err);
    } finally {
      for (const b of batch) b.done();
    }
  }

  /** This node's lease of `slot` while it drives the slot (see ownedSlots); null otherwise. */
  held(slot: number): SlotLease | null {
    if (!this.ownedSlots.has(slot)) return null;
    const lease = this.host.coordinator.lease(slot);
    return lease && lease.owner === this.host.coordinator.nodeId ? lease : null;
  }

  private async doLoad(id: number, mode: StartMode, woken: boolean): Promise<void> {
    const store = this.host.store;
    // Woken for a new instance (of a slot held here, no task rows yet): the instance, its project
    // and its rows at once, one round of reads instead of two in a row — the cluster's trigger →
    // running spent ~1.2 ms on each (scripts/bench/all-trigger.ts). Otherwise the instance first:
    // one that has ended, or is not ours, costs no read of its rows.
    const early = woken ? Promise.all([store.projects.ofInstance(id), store.taskInstances.listForInstance(id)]) : null;
    early?.catch(() => {}); // awaited below, or not needed
    const instance = await store.instances.get(id);
    const lease = this.drivable(instance);
    if (!instance || !lease) return;
    // Independent of each other: one round trip instead of three (the definition is usually cached).
    const [definition, [project, rows]] = await Promise.all([
      this.definition(instance.workflowId, instance.workflowVersion),
      early ?? Promise.all([store.projects.getById(instance.projectId), store.taskInstances.listForInstance(id)]),
    ]);
    await this.drive(instance, definition, project, lease.epoch, rows, effectiveMode(instance, mode, rows));
  }

  /** Woken instances read together: the instances, their projects and their rows, one statement each. */
  private async doLoadMany(ids: readonly number[]): Promise<void> {
    const store = this.host.store;
    const [instances, projects, rowsOf] = await Promise.all([store.instances.getMany(ids), store.projects.ofInstances(ids), store.taskInstances.listForInstances(ids)]);
    await Promise.all(
      instances.map(async (instance) => {
        const lease = this.drivable(instance);
        if (!lease || this.host.drivers.has(instance.id)) return;
        const rows = rowsOf.get(instance.id) ?? [];
        const definition = await this.definition(instance.workflowId, instance.workflowVersion);
        await this.drive(instance, definition, projects.get(instance.id) ?? null, lease.epoch, rows, effectiveMode(instance, "start", rows));
      }),
    );
  }

  /** The lease to drive `instance` under: null when it is gone, ended, waiting in its serial queue or not of a slot held here. */
  private drivable(instance: WorkflowInstance | null): SlotLease | null {
    // A waiting instance is started by the serial queue (SERIAL_WAIT → SUBMITTED_SUCCESS) only.
    if (!instance || isTerminalWorkflowState(instance.state) || instance.state === "SERIAL_WAIT") return null;
    return this.held(instance.slot);
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
    if (this.host.stopped() || instance.state !== "SUBMITTED_SUCCESS" || instance.pendingControl || this.host.drivers.has(id) || this.loading.has(id)) return false;
    const lease = this.held(instance.slot);
    if (!lease) return false;
    const p = this.drive(instance, definition, project, lease.epoch, [], "start")
      .catch((err) => this.host.log.error(`master: could not load workflow instance ${id}`, { err }))
      .finally(() => this.loading.delete(id));
    this.loading.set(id, p);
    return true;
  }

  private async drive(instance: WorkflowInstance, definition: WorkflowDefinition, project: Project | null, epoch: number, rows: TaskInstance[], effective: StartMode): Promise<void> {
    const host = this.host;
    const id = instance.id;
    if (host.stopped()) return;
    await new Promise<void>((resolve) => {
      // Once stopped, queued work is dropped: without this, stop() would wait for this load forever.
      const onStop = () => resolve();
      host.stopping.addEventListener("abort", onStop, { once: true });
      host.schedule((batch) => {
        host.stopping.removeEventListener("abort", onStop);
        resolve();
        if (host.drivers.has(id)) return;
        // The slot was lost (and maybe taken again, at a newer epoch) while this load read the
        // Store: a driver made now would outlive the loss, and when the slot came back it would be
        // used as it is — without what another master wrote meanwhile — and refuse those attempts'
        // events as stale (failover.test.ts a: 14 instances RUNNING for good). The current lease's
        // own load drives it.
        const now = this.held(instance.slot);
        if (!now || now.epoch !== epoch) {
          if (now && !host.stopped()) setTimeout(() => void this.load(id, "start"), 0);
          return;
        }
        const driver = new InstanceDriver(host.driverHost, instance, definition, project?.params ?? {}, epoch, project?.name ?? "");
        host.drivers.set(id, driver);
        host.snapshots?.track(instance, "workflowName" in instance ? (instance.workflowName as string) : definition.name, rows, definition.tasks.length, epoch);
        driver.start(batch, rows, effective);
      });
    });
  }

  private definition(workflowId: number, version: number): Promise<WorkflowDefinition> {
    const key = `${workflowId}:${version}`;
    let p = this.definitions.get(key);
    if (!p) {
      p = this.host.store.workflows.getVersion(workflowId, version).then((v) => {
        if (!v) throw new Error(`workflow ${workflowId} version ${version} is gone`);
        return v.definition;
      });
      p.catch(() => this.definitions.delete(key));
      this.definitions.set(key, p);
    }
    return p;
  }
}
