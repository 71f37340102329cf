// The engine of one `porpoise all` process: master + worker + the client the API calls, on the
// shared Store / Bus / Coordinator ports. The roles never see each other: the worker reports on
// the Bus's slot event streams, the master vouches for its dispatches through the in-process
// DispatchVouch, the client writes commands to the Store and wakes masters on the Bus
// (docs/architecture.md §2). The cluster modes (master.ts, worker.ts, api.ts) start one role each
// on the same ports' cluster twins.

import { isEdgeHost } from "../core/edge-messages.ts";
import type { Bus } from "../bus/bus.ts";
import { DispatchVouch } from "../cache/dispatch-vouch.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import type { ResetAcks } from "../cache/reset-acks.ts";
import type { WorkerBeacons } from "../cache/worker-beacons.ts";
import type { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import { InstanceHandoff } from "../bus/instance-handoff.ts";
import type { Coordinator, NodeRegistry } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";
import type { Store } from "../store/store.ts";
import { Worker, type WorkerDeps } from "../worker/worker.ts";
import { removeInstanceFiles } from "../worker/file-sweep.ts";
import { join } from "node:path";
import { createEngineClient, type EngineClient } from "../api/engine-client.ts";
import { Master } from "../master/master.ts";
import { Scheduler } from "../master/scheduler/scheduler.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { RunMetrics } from "../metrics/run-metrics.ts";
import { ScheduleMetrics } from "../metrics/schedule-metrics.ts";
import { WorkerMetrics } from "../metrics/worker-metrics.ts";
import { registerBusMetrics, registerClusterMetrics, registerSlotMetrics } from "../metrics/node-metrics.ts";
import { AlertDeliveryLoop, type DeliveryLoopOptions } from "../alerts/delivery-loop.ts";
import { defaultAlertEgress } from "../alerts/egress-check.ts";

export interface EngineOptions {
  store: Store;
  bus: Bus;
  coordinator: Coordinator;
  log: Logger;
  dataDir: string;
  /** See WorkerDeps.workDir / identity. */
  workDir?: string;
  identity?: ConstructorParameters<typeof Worker>[0]["identity"];
  workerSlots: number;
  workerGroups: readonly string[];
  /** Groups served besides the in-process worker's: the edge workers of this node's gateway. */
  edgeGroups?: () => readonly string[];
  env?: Readonly<Record<string, string>>;
  logMaxBytes?: number;
  killGraceMs?: number;
  /** Egress policy of http tasks and sql datasources (the worker's built-in one when left out). */
  egress?: WorkerDeps["egress"];
  /**
   * A cluster node (`all` on Postgres with the Postgres coordinator): dead workers are found in this
   * registry and the worker records this node id as the host of its attempts. Absent: single node,
   * restart recovery (docs/architecture.md §3.10).
   */
  cluster?: {
    registry: NodeRegistry;
    leaseMs: number;
    restartOf?: string;
    /**
     * performance.now() when the node's last answered heartbeat was sent: the worker stops its
     * attempts once that is a lease old (worker/lease-watch.ts), as a cluster worker does.
     */
    lastContactMs?: () => number;
    /** On Redis: its boot-marker watch; the worker publishes its recent events again after a flush (bus/recent-events.ts). */
    resets?: NonNullable<WorkerDeps["republish"]>["resets"];
    /** On Redis: the cached dispatch rows and start records, for its master and its worker (cache/dispatch-records.ts). */
    records?: DispatchRecords;
    /** On Redis: the workers' beacons its master's dead-worker sweep reads (cache/worker-beacons.ts). */
    beacons?: WorkerBeacons;
    /** On Redis: its master re-offers the dispatches a flush lost once the live nodes acknowledged it (cache/reset-acks.ts). */
    resetAcks?: ResetAcks;
  };
  /**
   * Snapshots of the driven instances (cache/instance-snapshots.ts). `all` passes none: its api
   * reads its own Store (tests pass one to compare the snapshots with the Store).
   */
  snapshots?: InstanceSnapshotWriter;
  /** Where the engine's figures go (README "### Metrics"); absent: nothing is counted. */
  metrics?: MetricsRegistry;
  /** The alert delivery loop's settings (--base-url, egress rules; tests: a shorter backoff). Defaults: no link, the built-in egress policy. */
  alerts?: Partial<Omit<DeliveryLoopOptions, "store" | "log" | "owner">>;
}

export interface Engine {
  client: EngineClient;
  master: Master;
  scheduler: Scheduler;
  worker: Worker;
  alerts: AlertDeliveryLoop;
  /** Drains the worker (running attempts get `deadlineMs`), then stops the master. */
  stop(deadlineMs: number): Promise<void>;
}

export async function startEngine(opts: EngineOptions): Promise<Engine> {
  const vouch = new DispatchVouch();
  const handoff = new InstanceHandoff();
  // The figures read on a scrape come from the parts made below (a scrape comes after the start).
  const parts: { worker?: Worker; master?: Master; scheduler?: Scheduler } = {};
  const m = opts.metrics;
  const worker = new Worker({
    ...(m ? { metrics: new WorkerMetrics(m, { running: () => parts.worker?.busy ?? 0, slots: opts.workerSlots }) } : {}),
    store: opts.store,
    bus: opts.bus,
    vouch,
    ...(opts.cluster ? { host: opts.coordinator.nodeId } : {}),
    // Cut off from the Store for a lease, other nodes count this one dead and run its attempts
    // again: they are stopped here first (docs/architecture.md §3.10).
    ...(opts.cluster?.lastContactMs ? { lease: { leaseMs: opts.cluster.leaseMs, lastContactMs: opts.cluster.lastContactMs } } : {}),
    ...(opts.cluster?.resets ? { republish: { resets: opts.cluster.resets } } : {}),
    ...(opts.cluster?.records ? { records: opts.cluster.records } : {}),
    log: opts.log.child({ component: "worker" }),
    dataDir: opts.dataDir,
    ...(opts.workDir ? { workDir: opts.workDir } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    slots: opts.workerSlots,
    groups: opts.workerGroups,
    env: opts.env,
    logMaxBytes: opts.logMaxBytes,
    killGraceMs: opts.killGraceMs,
    ...(opts.egress ? { egress: opts.egress } : {}),
  });
  const master = new Master({
    store: opts.store,
    bus: opts.bus,
    coordinator: opts.coordinator,
    log: opts.log.child({ component: "master" }),
    vouch,
    handoff,
    ...(opts.snapshots ? { snapshots: opts.snapshots } : {}),
    ...(opts.cluster?.records ? { records: opts.cluster.records } : {}),
    // Single node: the one worker of this process is the only one that can have run these attempts.
    ...(opts.cluster
      ? {
          recovery: {
            kind: "workers" as const,
            registry: opts.cluster.registry,
            leaseMs: opts.cluster.leaseMs,
            ...(opts.cluster.restartOf ? { restartOf: opts.cluster.restartOf } : {}),
            ...(opts.cluster.beacons ? { beacons: opts.cluster.beacons } : {}),
            ...(opts.cluster.resetAcks ? { resetAcks: opts.cluster.resetAcks } : {}),
          },
          adoptInterrupted: (inFlight: Parameters<Worker["adopt"]>[0]) => worker.adopt(inFlight),
        }
      : {
          recovery: { kind: "restart" as const },
          // Attempts on edge workers are not this process's: the worker may run on behind a gateway
          // that restarted; it reports them, or the gateway's sweep reruns them (api/edge/edge-sweep.ts).
          adoptInterrupted: (inFlight: Parameters<Worker["adopt"]>[0]) => [...worker.adopt(inFlight.filter((t) => !isEdgeHost(t.host))), ...inFlight.filter((t) => isEdgeHost(t.host)).map((t) => t.id)],
        }),
    // The one worker of this process serves these groups; anything else waits and is said to (issue 9 item 15).
    servedGroups: () => (opts.edgeGroups ? [...opts.workerGroups, ...opts.edgeGroups()] : opts.workerGroups),
    ...(m
      ? {
          metrics: new RunMetrics(m, {
            activeRuns: () => parts.master?.activeInstances ?? 0,
            waitingUnserved: () => parts.master?.waitingForUnservedGroups() ?? {},
            refusedEvents: () => parts.master?.staleEvents ?? 0,
          }),
        }
      : {}),
  });
  parts.worker = worker;
  parts.master = master;
  if (m) {
    registerBusMetrics(m, opts.bus, () => [...opts.workerGroups, ...Object.keys(master.waitingForUnservedGroups())]);
    registerSlotMetrics(m, opts.coordinator);
    if (opts.cluster) registerClusterMetrics(m, opts.cluster.registry, { slotCount: opts.coordinator.slotCount, leaseMs: opts.cluster.leaseMs });
  }
  const client = createEngineClient({
    store: opts.store,
    bus: opts.bus,
    slotOf: (id) => opts.coordinator.slotOf(id),
    slotCount: opts.coordinator.slotCount,
    log: opts.log.child({ component: "engine" }),
    handoff,
    servedWorkerGroups: () => (opts.edgeGroups ? [...opts.workerGroups, ...opts.edgeGroups()] : opts.workerGroups),
    // The files of a deleted instance are this process's worker's: removed at once, not at the next sweep.
    removeInstanceFiles: (id) => removeInstanceFiles(opts.dataDir, opts.workDir ?? join(opts.dataDir, "work"), id),
  });
  await worker.start();
  await master.start();
  // The master drives the adopted attempts' instances now: their reports find a driver.
  worker.startAdopted();
  // After the master: the instances the scheduler creates (catch-up included) wake a running master.
  const scheduler = new Scheduler({
    store: opts.store,
    bus: opts.bus,
    coordinator: opts.coordinator,
    log: opts.log.child({ component: "scheduler" }),
    ...(m ? { metrics: new ScheduleMetrics(m, { schedules: () => parts.scheduler?.size ?? 0 }) } : {}),
  });
  parts.scheduler = scheduler;
  await scheduler.start();
  // Beside the engine, never in its path: it reads the outbox the master's commits write.
  const alerts = new AlertDeliveryLoop({
    store: opts.store,
    log: opts.log.child({ component: "alerts" }),
    owner: opts.coordinator.nodeId,
    baseUrl: null,
    egress: defaultAlertEgress(),
    ...(m ? { metrics: m } : {}),
    ...opts.alerts,
  });
  alerts.start();
  let stopping: Promise<void> | null = null;
  return {
    client,
    master,
    scheduler,
    worker,
    alerts,
    stop: (deadlineMs) =>
      (stopping ??= (async () => {
        await alerts.stop();
        await scheduler.stop();
        await worker.stop(deadlineMs);
        // Let the master write the workers' last reports before it stops.
        await new Promise((r) => setTimeout(r, 0));
        await master.stop();
      })()),
  };
}
