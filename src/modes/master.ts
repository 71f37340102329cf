// `porpoise master`: a slot owner of the cluster (docs/architecture.md §3.3). It holds a fair
// share of the slots through the Postgres Coordinator, drives the instances of those slots
// (their events arrive on the slots' streams of the Redis Bus), fires the schedules of those
// slots, claims the commands of those instances, and reruns the attempts of workers that died.
// No API: the api nodes serve the cluster's state (GET /api/v1/cluster). Its one listener
// (--metrics-port) serves /metrics, /healthz and /readyz (metrics-listener.ts).

import { parseWantedInstance, SNAPSHOT_WANTED_CHANNEL } from "../core/messages.ts";
import { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import { Master } from "../master/master.ts";
import { Scheduler } from "../master/scheduler/scheduler.ts";
import { AlertDeliveryLoop } from "../alerts/delivery-loop.ts";
import { defaultAlertEgress } from "../alerts/egress-check.ts";
import { openStore } from "../store/open.ts";
import { redactUrl } from "../config.ts";
import { masterRedisRecovery, openClusterPorts } from "./cluster-ports.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { nodeIdFor } from "./node-id.ts";
import { checkRedis } from "./redis-check.ts";
import { servedGroupsFromRegistry } from "./served-groups.ts";
import { liveEdgeGroups } from "./edge-groups.ts";
import { startRetention } from "./retention.ts";
import { startStatisticsRefresh } from "./plan-statistics.ts";
import { startMetricsListener } from "./metrics-listener.ts";
import { modeMetrics } from "./mode-metrics.ts";
import { STARTING, storeCheck } from "../api/readiness.ts";
import { RunMetrics } from "../metrics/run-metrics.ts";
import { ScheduleMetrics } from "../metrics/schedule-metrics.ts";
import { registerBusMetrics, registerClusterMetrics, registerSlotMetrics } from "../metrics/node-metrics.ts";
import type { Store } from "../store/store.ts";
import { registerStoreMetrics } from "../metrics/store-metrics.ts";

export async function startMaster(deps: ModeDeps): Promise<RunningMode> {
  const { config } = deps;
  const nodeId = nodeIdFor(config, "master");
  // Every line of this node names it (JSON logs: the `node` field).
  const log = deps.log.child({ node: nodeId });
  if (config.redis !== null) await checkRedis(config.redis);
  const resources = new Resources(log);
  const metrics = modeMetrics(config, "master");
  try {
    // Listening first: a probe sees the process up (and not ready) while migrations run.
    let store: Store | null = null;
    const listener = startMetricsListener({ host: config.host, port: config.metricsPort, metrics, log, checks: () => (store ? [storeCheck(() => store!.ready())] : [STARTING]) });
    resources.add("metrics listener", () => listener.stop(0));
    store = await openStore({ url: config.db.url, migrate: true, log: log.child({ component: "store" }), secretKey: config.secret });
    const opened = store;
    resources.add("store", () => opened.close());
    registerStoreMetrics(metrics, () => opened.stats());
    const { bus, records, snapshotCache, cache, registry, coordinator } = await openClusterPorts({ config, log, store, nodeId, role: "master", resources });
    if (!coordinator) throw new Error("startMaster: no coordinator");
    store.fenceWith(nodeId);
    const served = servedGroupsFromRegistry(registry, config.leaseMs, log, () => liveEdgeGroups(opened, config.leaseMs));
    resources.add("served groups", () => served.stop());
    // The writer asks the master it is given to which instances it still drives.
    let drives: (id: number) => boolean = () => true;
    const snapshots = snapshotCache ? new InstanceSnapshotWriter({ cache: snapshotCache, log: log.child({ component: "cache" }), driven: (id) => drives(id) }) : null;
    if (snapshots) {
      // The api asks for the snapshots of the instances it reads (cache/instance-snapshots.ts).
      const unsubscribe = await bus.subscribe(SNAPSHOT_WANTED_CHANNEL, (raw) => {
        const id = parseWantedInstance(raw);
        if (id !== null) snapshots.want(id);
      });
      resources.add("snapshot requests", unsubscribe);
    }
    const figures: { master?: Master; scheduler?: Scheduler } = {};
    const master = new Master({
      metrics: new RunMetrics(metrics, {
        activeRuns: () => figures.master?.activeInstances ?? 0,
        waitingUnserved: () => figures.master?.waitingForUnservedGroups() ?? {},
        refusedEvents: () => figures.master?.staleEvents ?? 0,
      }),
      store,
      bus,
      coordinator,
      log: log.child({ component: "master" }),
      host: nodeId,
      ...(records ? { records } : {}),
      ...(snapshots ? { snapshots } : {}),
      // A worker the registry counts dead but whose beacon is in Redis is alive (cache/worker-beacons.ts);
      // dispatches Redis lost go again once the live workers put back their starts (cache/reset-acks.ts).
      recovery: { kind: "workers", registry, leaseMs: config.leaseMs, ...(cache ? masterRedisRecovery(cache, registry, config.leaseMs, log) : {}) },
      servedGroups: () => served.get(),
      confirmServedGroups: () => served.fresh(),
    });
    drives = (id) => master.drives(id);
    figures.master = master;
    // Queues of the groups live workers serve and of those tasks wait for unserved.
    registerBusMetrics(metrics, bus, () => [...(served.get() ?? []), ...Object.keys(master.waitingForUnservedGroups())]);
    registerSlotMetrics(metrics, coordinator);
    registerClusterMetrics(metrics, registry, { slotCount: config.slots, leaseMs: config.leaseMs });
    await master.start();
    // After the master listens: the slots it acquires are taken over as they come.
    await coordinator.start();
    resources.add("coordinator", () => coordinator.stop());
    resources.add("master", () => master.stop());
    const scheduler = new Scheduler({ store, bus, coordinator, log: log.child({ component: "scheduler" }), metrics: new ScheduleMetrics(metrics, { schedules: () => figures.scheduler?.size ?? 0 }) });
    figures.scheduler = scheduler;
    await scheduler.start();
    resources.add("scheduler", () => scheduler.stop());
    startRetention({ config, log, store, resources, files: false, ownedSlots: () => coordinator.ownedSlots(), metrics });
    startStatisticsRefresh({ store, log, resources });
    // Alerts: every master drains the outbox (claims are leased, FOR UPDATE SKIP LOCKED), beside the engine.
    const alerts = new AlertDeliveryLoop({ store, log: log.child({ component: "alerts" }), owner: nodeId, baseUrl: config.baseUrl, egress: defaultAlertEgress(config.egress), metrics });
    alerts.start();
    resources.add("alert delivery", () => alerts.stop());
    log.info(`porpoise master ${nodeId} ready (${config.db.display}; redis ${redactUrl(config.redis ?? "")}; ${config.slots} slots, lease ${config.leaseMs} ms; metrics on ${listener.url}/metrics)`);
    return { url: listener.url, stop: () => resources.closeAll() };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}
