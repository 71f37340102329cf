// `porpoise worker --gateway URL --token T`: an edge worker (issue 13, docs/architecture.md §2
// "Edge workers"). It holds no database or Redis credentials: it registers with the gateway of an api (or
// all) node, long-polls it for attempts of its worker groups and runs them with the same Worker as
// a datacenter worker, over the edge ports (worker/edge/edge-bus.ts). Results and logs are spooled
// in --data-dir and sent after reconnecting; attempts a killed process left behind are reported on
// the next register and run again. Like the datacenter worker it serves GET /metrics, /healthz
// and /readyz on --metrics-port (metrics-listener.ts; edge figures: metrics/edge-metrics.ts).

import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { egressPolicy } from "../core/net/egress.ts";
import { readCaCert } from "../core/net/ca-cert.ts";
import { systemResolve } from "../worker/egress.ts";
import { Worker } from "../worker/worker.ts";
import { leashTasksToThisProcess } from "../worker/task-leash.ts";
import { EdgeBus } from "../worker/edge/edge-bus.ts";
import { EdgeLink } from "../worker/edge/edge-link.ts";
import { VERSION } from "../version.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { persistentNodeId } from "./node-id.ts";
import { prepareTaskIsolation, secureDataDir } from "./task-isolation.ts";
import { startMetricsListener } from "./metrics-listener.ts";
import { modeMetrics } from "./mode-metrics.ts";
import { dataDirCheck } from "./data-dir-check.ts";
import { gatewayCheck } from "./edge-readiness.ts";
import { WorkerMetrics } from "../metrics/worker-metrics.ts";
import { registerEdgeMetrics } from "../metrics/edge-metrics.ts";

export async function startEdgeWorker(deps: ModeDeps): Promise<RunningMode> {
  const { config, log } = deps;
  if (config.gateway === null || config.token === null) throw new Error("startEdgeWorker: --gateway and --token are required (resolveConfig checks this)");
  const resources = new Resources(log);
  const metrics = modeMetrics(config, "worker");
  try {
    // Listening first: a probe sees the process up, and not ready until it registered.
    let link: EdgeLink | null = null;
    const starting = { name: "gateway", check: async () => "starting: preparing the data dir" };
    const dataDir = { name: "dataDir", check: dataDirCheck(config.dataDir) };
    const gateway = config.gateway;
    const listener = startMetricsListener({ host: config.host, port: config.metricsPort, metrics, log, checks: () => [link ? gatewayCheck(link, gateway) : starting, dataDir] });
    resources.add("metrics listener", () => listener.stop(0));
    log.info(`porpoise edge worker: metrics on ${listener.url}/metrics (/readyz: not ready until registered with the gateway)`);
    leashTasksToThisProcess(log);
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    // One process per data dir: two would send one spool twice and report each other's attempts lost.
    const lock = lockDataDir(config.dataDir);
    resources.add("data directory lock", () => lock.release());
    await secureDataDir(config.dataDir);
    const identity = await prepareTaskIsolation({ config, log });
    // The same id across restarts: the gateway matches the attempts a restarted worker reports.
    const workerId = await persistentNodeId(config, "worker");
    const edgeLog = log.child({ component: "edge" });
    const ca = config.caCert === null ? undefined : readCaCert(config.caCert);
    let bus: EdgeBus | null = null;
    const edgeLink = new EdgeLink({
      gateway: config.gateway,
      token: config.token,
      workerId,
      version: VERSION,
      arch: process.arch,
      platform: process.platform,
      host: hostname(),
      groups: config.workerGroups,
      slots: config.workerSlots,
      log: edgeLog,
      running: () => bus?.running() ?? [],
      lost: () => bus?.lost() ?? [],
      lostReported: () => bus?.lostReported(),
      onKill: (kill) => bus?.kill(kill),
      ...(ca ? { ca } : {}),
    });
    link = edgeLink;
    const edgeBus = new EdgeBus({ link: edgeLink, dataDir: config.dataDir, log: edgeLog });
    bus = edgeBus;
    registerEdgeMetrics(metrics, {
      unsent: () => edgeBus.unsentByType(),
      reachable: () => edgeLink.reachable,
      heartbeatAgeSeconds: () => (performance.now() - edgeLink.lastContactMs) / 1000,
      outcomes: () => ({ duplicate: edgeBus.duplicates, superseded: edgeBus.superseded, refused: edgeBus.refused }),
    });
    await edgeLink.start();
    resources.add("edge link", () => edgeBus.close(2000));
    edgeBus.start();
    let busy = () => 0;
    const worker = new Worker({
      metrics: new WorkerMetrics(metrics, { running: () => busy(), slots: config.workerSlots }),
      reads: edgeBus.reads,
      bus: edgeBus,
      log: log.child({ component: "worker" }),
      dataDir: config.dataDir,
      workDir: config.workDir,
      identity,
      host: `edge:${workerId}`,
      shipLogs: true,
      // Cut off from the gateway longer than the edge lease: the gateway reruns its attempts by then.
      lease: { leaseMs: edgeLink.leaseMs, lastContactMs: () => edgeLink.lastContactMs },
      // An attempt offered again gets its latest event again: the gateway's Redis may have lost it (recent-events.ts).
      republish: {},
      slots: config.workerSlots,
      groups: config.workerGroups,
      env: config.taskEnvPass,
      logMaxBytes: config.taskLogMaxBytes,
      egress: { policy: egressPolicy(config.egress), resolve: systemResolve },
    });
    busy = () => worker.busy;
    await worker.start();
    resources.add("worker", () => worker.stop(config.shutdownTimeout * 1000));
    log.info(`porpoise edge worker ${workerId} ready (gateway ${config.gateway}; groups ${config.workerGroups.join(",")}, ${config.workerSlots} slots; metrics on ${listener.url}/metrics; ${process.platform}/${process.arch})`);
    return { url: listener.url, stop: () => resources.closeAll() };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}

