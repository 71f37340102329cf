// `porpoise worker`: claims ready tasks of its worker groups from the Redis Bus, checks each
// against the Store (exists, this attempt and token, still DISPATCH), runs it, and reports on
// the slot's event stream; the master owning the slot records the result. It heartbeats in the
// node registry: a master reruns the attempts of a worker whose heartbeat stops
// (docs/architecture.md §3.10). With --gateway it is an edge worker instead (edge-worker.ts).

import { mkdir } from "node:fs/promises";
import { egressPolicy } from "../core/net/egress.ts";
import { openStore } from "../store/open.ts";
import { systemResolve } from "../worker/egress.ts";
import { Worker } from "../worker/worker.ts";
import { leashTasksToThisProcess } from "../worker/task-leash.ts";
import { redactUrl } from "../config.ts";
import { openClusterPorts, startWorkerBeacon } from "./cluster-ports.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { nodeIdFor } from "./node-id.ts";
import { onDataDir } from "./data-dir-prepare.ts";
import { checkRedis } from "./redis-check.ts";
import { prepareTaskIsolation, secureDataDir } from "./task-isolation.ts";
import { startRetention } from "./retention.ts";
import { startMetricsListener } from "./metrics-listener.ts";
import { modeMetrics } from "./mode-metrics.ts";
import { dataDirCheck } from "./data-dir-check.ts";
import { type ReadinessCheck, STARTING, storeCheck } from "../api/readiness.ts";
import { WorkerMetrics } from "../metrics/worker-metrics.ts";
import { registerBusMetrics } from "../metrics/node-metrics.ts";
import type { Store } from "../store/store.ts";
import { registerStoreMetrics } from "../metrics/store-metrics.ts";

export async function startWorker(deps: ModeDeps): Promise<RunningMode> {
  const { config } = deps;
  if (config.gateway !== null) return (await import("./edge-worker.ts")).startEdgeWorker(deps);
  const nodeId = nodeIdFor(config, "worker");
  // Every line of this node names it (JSON logs: the `node` field).
  const log = deps.log.child({ node: nodeId });
  if (config.redis !== null) await checkRedis(config.redis);
  const resources = new Resources(log);
  const metrics = modeMetrics(config, "worker");
  try {
    // Listening first: a probe sees the process up (and not ready) until the store is open.
    let store: Store | null = null;
    const dataDir: ReadinessCheck = { name: "dataDir", check: dataDirCheck(config.dataDir) };
    const listener = startMetricsListener({ host: config.host, port: config.metricsPort, metrics, log, checks: () => (store ? [storeCheck(() => store!.ready()), dataDir] : [STARTING]) });
    resources.add("metrics listener", () => listener.stop(0));
    // Its attempts die with it: once it is gone a master reruns them elsewhere (task-leash.ts).
    leashTasksToThisProcess(log);
    await onDataDir(config.dataDir, async () => {
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      await secureDataDir(config.dataDir);
    });
    const identity = await prepareTaskIsolation({ config, log });
    // Reads only: what to run (rows, definitions, datasources); results go through the Bus.
    store = await openStore({ url: config.db.url, migrate: false, log: log.child({ component: "store" }), secretKey: config.secret });
    const opened = store;
    resources.add("store", () => opened.close());
    registerStoreMetrics(metrics, () => opened.stats());
    const { bus, records, cache, resets, registry } = await openClusterPorts({ config, log, store, nodeId, role: "worker", resources, groups: config.workerGroups });
    // Its second heartbeat, in Redis: through a Postgres outage it keeps its attempts (worker-beacons.ts).
    const beacon = cache ? startWorkerBeacon(cache, resets, { config, nodeId, log, resources }) : null;
    let busy = () => 0;
    const worker = new Worker({
      metrics: new WorkerMetrics(metrics, { running: () => busy(), slots: config.workerSlots }),
      store: opened,
      bus,
      log: log.child({ component: "worker" }),
      dataDir: config.dataDir,
      workDir: config.workDir,
      identity,
      host: nodeId,
      shipLogs: true,
      ...(records ? { records } : {}),
      // Cut off = neither Postgres nor Redis reached for a lease (lease-watch.ts).
      lease: { leaseMs: config.leaseMs, lastContactMs: () => Math.max(registry.lastContactMs, beacon?.lastContactMs ?? Number.NEGATIVE_INFINITY) },
      // Its latest events go again when Redis loses them, or when an attempt is offered again (recent-events.ts).
      republish: resets ? { resets } : {},
      slots: config.workerSlots,
      groups: config.workerGroups,
      env: config.taskEnvPass,
      logMaxBytes: config.taskLogMaxBytes,
      egress: { policy: egressPolicy(config.egress), resolve: systemResolve },
    });
    busy = () => worker.busy;
    registerBusMetrics(metrics, bus, () => config.workerGroups);
    await worker.start();
    resources.add("worker", () => worker.stop(config.shutdownTimeout * 1000));
    startRetention({ config, log, store: opened, resources, files: true, metrics });
    log.info(`porpoise worker ${nodeId} ready (groups ${config.workerGroups.join(",")}, ${config.workerSlots} slots; redis ${redactUrl(config.redis ?? "")}; metrics on ${listener.url}/metrics)`);
    return { url: listener.url, stop: () => resources.closeAll() };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}
