// The master's periodic and after-outage sweeps (master.ts): what a lossy wake, a Redis flush, a
// dead worker or a store outage left undone is picked up again from the Store's truth. A cluster
// node sweeps every `sweepMs` (reconcile, sweepDeadWorkers); every master sweeps after an outage.

import { isEdgeHost } from "../core/edge-messages.ts";
import { type DispatchRecords, RECORD_TTL_MS } from "../cache/dispatch-records.ts";
import type { Coordinator } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import { retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { Store } from "../store/store.ts";
import type { BackfillDriver } from "./backfill.ts";
import type { InstanceDriver } from "./instance-driver.ts";
import type { MasterDeps } from "./master-deps.ts";
import type { StartMode } from "./run-options.ts";
import type { SerialQueue } from "./serial-queue.ts";

/** How long a dispatched attempt's cached row must stay missing before its ready task is enqueued again (worker.ts resends events at most 1 s apart). */
const REDISPATCH_AFTER_MS = 2000;

/** What the sweeps need of their master. */
export interface ClusterSweepsHost {
  store: Store;
  coordinator: Coordinator;
  log: Logger;
  /** Store retries that do not start another after-outage sweep. */
  retryQuiet: StoreRetryOptions;
  /** The instances the master drives, by id. */
  drivers: Map<number, InstanceDriver>;
  records?: DispatchRecords | undefined;
  recovery: NonNullable<MasterDeps["recovery"]>;
  serial: SerialQueue;
  backfills: BackfillDriver;
  stopped(): boolean;
  /** Whether a load of the instance is in progress (instance-loading.ts). */
  isLoading(id: number): boolean;
  load(id: number, mode: StartMode): Promise<void>;
  /** Stops driving an instance; `reload`: load it again a moment later. */
  abandon(id: number, reload: boolean): void;
  /** Re-opens the orphaned command claims of the owned slots, then claims (command-claims.ts). */
  reopenAndClaim(): void;
  /** Logs a failed background step, except the end of a retry cut short by stop(). */
  failed(what: string): (err: unknown) => void;
}

export class ClusterSweeps {
  private workerSweep: ReturnType<typeof setInterval> | null = null;
  private sweepingWorkers: Promise<void> | null = null;
  private reconciling: Promise<void> | null = null;
  /** When a store call last failed or recovered from an outage (sweepDeadWorkers waits a lease after it). */
  private storeTroubleAt = 0;
  /** Dispatched attempts whose cached row was missing, since when (redispatchLost). */
  private lostSince = new Map<string, number>();
  /** Dispatched attempts whose cached row was there, since when it was last put or refreshed (as far as this sweep knows). */
  private freshSince = new Map<string, number>();
  /** Attempts rerun because their worker died (metrics, tests). */
  workerLostAttempts = 0;
  private sweeping: Promise<void> | null = null;
  private sweepAgain = false;

  constructor(private readonly host: ClusterSweepsHost) {}

  /** A cluster node: sweeps for dead workers and reconciles every `every` ms. */
  startSweeping(every: number): void {
    this.workerSweep = setInterval(() => {
      this.sweepDeadWorkers();
      this.reconcile();
    }, every);
    this.workerSweep.unref?.();
  }

  stopSweeping(): void {
    if (this.workerSweep) clearInterval(this.workerSweep);
  }

  /** The dead-worker sweep in progress, if any. */
  get sweepingWorkersNow(): Promise<void> | null {
    return this.sweepingWorkers;
  }

  /** The reconciliation in progress, if any. */
  get reconcilingNow(): Promise<void> | null {
    return this.reconciling;
  }

  /** The after-outage sweep in progress, if any. */
  get sweepingNow(): Promise<void> | null {
    return this.sweeping;
  }

  /**
   * Wakes are lossy (a Redis hiccup, another `all` node's in-process bus): every sweep period the
   * active instances of the owned slots that nobody drives here are loaded, waiting serial runs
   * with nothing active ahead of them are let in, and commands claimed.
   */
  private reconcile(): void {
    const host = this.host;
    if (host.stopped() || this.reconciling) return;
    this.reconciling = (async () => {
      const slots = host.coordinator.ownedSlots();
      if (slots.length === 0) return;
      const active = await host.store.instances.listActive({ slots });
      for (const instance of active) if (!host.drivers.has(instance.id) && !host.isLoading(instance.id) && instance.state !== "SERIAL_WAIT") void host.load(instance.id, "start");
      host.reopenAndClaim();
      // A run that queued while the active one was ending, and committed after that end's release
      // looked (store/serial-instances.ts releaseSerial): let in here, as a master start does. Its
      // failure (a store outage) is its own: the redispatch below still runs.
      const stranded = host.serial.releaseStranded(slots).catch(host.failed("letting in waiting serial runs failed"));
      await this.redispatchLost();
      await stranded;
    })()
      .catch(host.failed("the reconciliation sweep failed"))
      .finally(() => (this.reconciling = null));
  }

  /**
   * Ready tasks Redis lost (FLUSHALL, a restart without persistence) are enqueued again from the
   * Store's truth held here (docs/architecture.md §3.1). The sign of the loss is the attempt's
   * cached dispatch row (put with the enqueue, dropped once RUNNING is recorded) missing on two
   * sweeps at least REDISPATCH_AFTER_MS apart: by then a worker that took the attempt before the
   * loss has resent its "running" (worker.ts resends unpublished events), so the copy is not run
   * twice — and a copy that is run twice anyway is refused by token after the first result. After
   * a flush they also wait for every live worker to acknowledge it (cache/reset-acks.ts): by then a
   * worker that started one has put its start record back, and a copy offered to another is dropped.
   */
  private async redispatchLost(): Promise<void> {
    const records = this.host.records;
    if (!records) return;
    const now = Date.now();
    const candidates = [...this.host.drivers.values()].flatMap((driver) => driver.dispatchedAttempts().map((rec) => ({ driver, rec })));
    const lost = await Promise.all(candidates.map(({ rec }) => records.lost(rec.id!)));
    const still = new Map<string, number>();
    const fresh = new Map<string, number>();
    const due: { driver: InstanceDriver; rec: (typeof candidates)[number]["rec"] }[] = [];
    candidates.forEach(({ driver, rec }, i) => {
      const key = `${rec.id}:${rec.attempt}:${rec.token}`;
      if (!lost[i]) {
        // Still waiting: its row gets a fresh TTL a third of the way in (first seen here ≥ put).
        const since = this.freshSince.get(key) ?? now;
        fresh.set(key, since);
        if (now - since >= RECORD_TTL_MS / 3) {
          fresh.set(key, now);
          void records.refresh(rec.id!);
        }
        return;
      }
      const since = this.lostSince.get(key) ?? now;
      still.set(key, since);
      if (now - since >= REDISPATCH_AFTER_MS) due.push({ driver, rec });
    });
    this.lostSince = still;
    this.freshSince = fresh;
    if (due.length === 0) return;
    // Not before every worker put back its start records (a copy must find them): cache/reset-acks.ts.
    const recovery = this.host.recovery;
    if (recovery.kind === "workers" && recovery.resetAcks && !(await recovery.resetAcks.settled())) return;
    for (const { driver, rec } of due) {
      driver.redispatch(rec);
      this.lostSince.delete(`${rec.id}:${rec.attempt}:${rec.token}`);
    }
    this.host.log.warn(`master: ${due.length} dispatched task attempts were no longer in Redis (flushed or restarted); enqueued them again`);
  }

  /**
   * Attempts RUNNING on a worker that left the registry (its heartbeat is older than the lease)
   * are rerun elsewhere as NEED_FAULT_TOLERANCE, without using a retry (docs/architecture.md §3.10).
   * Their drivers are reloaded from the Store, whose recovery dispatches the next attempt.
   */
  private sweepDeadWorkers(): void {
    const host = this.host;
    if (host.stopped() || this.sweepingWorkers || host.recovery.kind !== "workers") return;
    const { registry, leaseMs, beacons } = host.recovery;
    // After a store outage every heartbeat is old: the workers could not write them either. They get
    // a lease from the end of the outage to beat again before any is taken for dead (outage-postgres.test.ts).
    if (Date.now() - this.storeTroubleAt < leaseMs) return;
    this.sweepingWorkers = (async () => {
      const slots = host.coordinator.ownedSlots();
      if (slots.length === 0) return;
      const inFlight = await host.store.taskInstances.listInFlight({ slots });
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
      for (const workerHost of dead) {
        const lostOnes = running.filter((t) => t.host === workerHost);
        const instances = [...new Set(lostOnes.map((t) => t.workflowInstanceId))].filter((id) => host.drivers.has(id));
        // Stop driving them first, so no batch writes over the rows marked below; reload after.
        for (const id of instances) host.abandon(id, false);
        const marked = await host.store.taskInstances.markInterrupted({ host: workerHost, slots });
        this.workerLostAttempts += marked.length;
        if (marked.length > 0) host.log.warn(`master: worker ${workerHost} is gone (no heartbeat for ${deadAfter} ms); ${marked.length} of its task attempts run again elsewhere`);
        for (const id of instances) void host.load(id, "start");
      }
    })()
      .catch((err) => {
        this.storeTroubleAt = Date.now();
        host.failed("the sweep for dead workers failed")(err);
      })
      .finally(() => (this.sweepingWorkers = null));
  }

  /**
   * After an outage: whatever missed a wake or a command meanwhile is picked up from the Store.
   * Recoveries during a sweep (many calls come back at once) coalesce into one more sweep.
   */
  afterOutage(): void {
    const host = this.host;
    this.storeTroubleAt = Date.now();
    if (host.stopped()) return;
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    this.sweeping = (async () => {
      do {
        this.sweepAgain = false;
        const slots = host.coordinator.ownedSlots();
        const active = await retryStore("listing active workflow instances", () => host.store.instances.listActive({ slots }), host.retryQuiet);
        for (const instance of active) if (!host.drivers.has(instance.id)) void host.load(instance.id, "start");
        // A give-back that failed during the outage left claims of ours behind.
        host.reopenAndClaim();
        await host.serial.recover();
        await host.backfills.recover();
      } while (this.sweepAgain && !host.stopped());
    })()
      .catch(host.failed("the sweep after a store outage failed"))
      .finally(() => (this.sweeping = null));
  }
}
