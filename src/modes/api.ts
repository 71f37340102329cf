// `porpoise api`: the HTTP API node of a cluster. Postgres store (config refuses SQLite), the
// Redis Bus for wakes, no data directory: the admin token, when one is generated, is printed once
// and not written anywhere. Runs, controls, schedule changes and backfills become rows in the
// Store plus a wake to the masters (api/engine-client.ts); whichever master owns the instance's
// slot acts on it (docs/architecture.md §2).

import { SNAPSHOT_WANTED_CHANNEL } from "../core/messages.ts";
import { createEngineClient } from "../api/engine-client.ts";
import { InstanceSnapshotReader } from "../cache/instance-snapshots.ts";
import { slotOfInstance } from "../coordinator/coordinator.ts";
import { redactUrl } from "../config.ts";
import { openClusterPorts } from "./cluster-ports.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { nodeIdFor } from "./node-id.ts";
import { checkRedis } from "./redis-check.ts";
import { servedGroupsFromRegistry } from "./served-groups.ts";
import { liveEdgeGroups } from "./edge-groups.ts";
import { serveApi, stopServing } from "./serve-api.ts";
import { startEdgeGateway } from "./edge-gateway.ts";
import type { EdgeGateway } from "../api/edge/gateway.ts";
import { modeMetrics } from "./mode-metrics.ts";
import { registerBusMetrics, registerClusterMetrics } from "../metrics/node-metrics.ts";

export async function startApi(deps: ModeDeps): Promise<RunningMode> {
  const { config } = deps;
  const nodeId = nodeIdFor(config, "api");
  // Every line of this node names it (JSON logs: the `node` field).
  const log = deps.log.child({ node: nodeId });
  if (config.redis === null) throw new Error("startApi: config.redis is required (resolveConfig checks this)");
  if (config.secret === null) throw new Error("startApi: config.secret is required (resolveConfig checks this)");
  const secretKey = config.secret;
  // A Redis that does not answer is a start-up failure naming it, before anything is opened.
  await checkRedis(config.redis);
  const resources = new Resources(log);
  const metrics = modeMetrics(config, "api");
  try {
    let edgeGateway: EdgeGateway | undefined;
    const { http } = await serveApi({
      ...deps,
      log,
      resources,
      metrics,
      dataDir: null,
      secretKey,
      engine: async (store) => {
        const { bus, snapshotCache, registry, resets } = await openClusterPorts({ config, log, store, nodeId, role: "api", resources });
        const served = servedGroupsFromRegistry(registry, config.leaseMs, log, () => liveEdgeGroups(store, config.leaseMs));
        registerClusterMetrics(metrics, registry, { slotCount: config.slots, leaseMs: config.leaseMs });
        registerBusMetrics(metrics, bus, () => served.get() ?? []);
        resources.add("served groups", () => served.stop());
        const client = createEngineClient({ store, bus, slotOf: (id) => slotOfInstance(id, config.slots), slotCount: config.slots, log: log.child({ component: "engine" }), servedWorkerGroups: () => served.get() });
        edgeGateway = await startEdgeGateway({ config, store, bus, log, resources, resets });
        const readyQueues = { depth: (group: string) => bus.depth(group), served: () => served.get() };
        return { client, edgeGateway, readyQueues, ...(snapshotCache ? { instanceSnapshots: new InstanceSnapshotReader(snapshotCache, log.child({ component: "cache" }), (id) => bus.publish(SNAPSHOT_WANTED_CHANNEL, String(id))) } : {}) };
      },
    });
    log.info(`porpoise api ready on ${http.url} (node ${nodeId}; ${config.db.dialect}: ${config.db.display}; redis: ${redactUrl(config.redis)})`);
    return {
      url: http.url,
      // Held polls answer at once: the HTTP drain does not wait out a 25 s long-poll.
      stop: () => {
        edgeGateway?.stop();
        return stopServing({ http, resources, log, shutdownTimeoutSeconds: config.shutdownTimeout });
      },
    };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}
