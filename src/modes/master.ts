// `porpoise master`: a slot owner of the cluster (docs/architecture.md §3.3). It holds a fair
// share of the slots through the Postgres Coordinator, drives the instances of those slots
// (their events arrive on the slots' streams of the Redis Bus), fires the schedules of those
// slots, claims the commands of those instances, and reruns the attempts of workers that died.
// No HTTP port: the api nodes serve the cluster's state (GET /api/v1/cluster).

import { InstanceSnapshotWriter } from "../cache/instance-snapshot-writer.ts";
import { Master } from "../master/master.ts";
import { WorkerBeacons } from "../cache/worker-beacons.ts";
import { Scheduler } from "../master/scheduler/scheduler.ts";
import { openStore } from "../store/open.ts";
import { redactUrl } from "../config.ts";
import { openClusterPorts } from "./cluster-ports.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { nodeIdFor } from "./node-id.ts";
import { checkRedis } from "./redis-check.ts";
import { servedGroupsFromRegistry } from "./served-groups.ts";
import { startRetention } from "./retention.ts";

export async function startMaster(deps: ModeDeps): Promise<RunningMode> {
  const { config, log } = deps;
  if (config.redis !== null) await checkRedis(config.redis);
  const resources = new Resources(log);
  try {
    const nodeId = nodeIdFor(config, "master");
    const store = await openStore({ url: config.db.url, migrate: true, log: log.child({ component: "store" }), secretKey: config.secret });
    resources.add("store", () => store.close());
    const { bus, records, snapshotCache, cache, registry, coordinator } = await openClusterPorts({ config, log, store, nodeId, role: "master", resources });
    if (!coordinator) throw new Error("startMaster: no coordinator");
    store.fenceWith(nodeId);
    const served = servedGroupsFromRegistry(registry, config.leaseMs, log);
    resources.add("served groups", () => served.stop());
    // The writer asks the master it is given to which instances it still drives.
    let drives: (id: number) => boolean = () => true;
    const snapshots = snapshotCache ? new InstanceSnapshotWriter({ cache: snapshotCache, log: log.child({ component: "cache" }), driven: (id) => drives(id) }) : null;
    const master = new Master({
      store,
      bus,
      coordinator,
      log: log.child({ component: "master" }),
      host: nodeId,
      ...(records ? { records } : {}),
      ...(snapshots ? { snapshots } : {}),
      // A worker the registry counts dead but whose beacon is in Redis is alive (cache/worker-beacons.ts).
      recovery: { kind: "workers", registry, leaseMs: config.leaseMs, ...(cache ? { beacons: new WorkerBeacons(cache, config.leaseMs) } : {}) },
      servedGroups: () => served.get(),
      confirmServedGroups: () => served.fresh(),
    });
    drives = (id) => master.drives(id);
    await master.start();
    // After the master listens: the slots it acquires are taken over as they come.
    await coordinator.start();
    resources.add("coordinator", () => coordinator.stop());
    resources.add("master", () => master.stop());
    const scheduler = new Scheduler({ store, bus, coordinator, log: log.child({ component: "scheduler" }) });
    await scheduler.start();
    resources.add("scheduler", () => scheduler.stop());
    startRetention({ config, log, store, resources, files: false, ownedSlots: () => coordinator.ownedSlots() });
    log.info(`porpoise master ${nodeId} ready (${config.db.display}; redis ${redactUrl(config.redis ?? "")}; ${config.slots} slots, lease ${config.leaseMs} ms)`);
    return { url: "", stop: () => resources.closeAll() };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}
