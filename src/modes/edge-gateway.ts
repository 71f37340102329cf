// The edge gateway of an api or all node (api/edge/): started on the node's Store and Bus,
// with its sweep for silent edge workers, and stopped (held polls answered) with the node.
//
// The edge lease is three cluster leases (30 s by default): edge links are flakier than a
// datacenter's, and a worker silent that long has stopped its attempts itself by then.

import { EdgeGateway } from "../api/edge/gateway.ts";
import { EdgeSweep } from "../api/edge/edge-sweep.ts";
import type { Bus } from "../bus/bus.ts";
import type { RedisResetWatch } from "../cache/redis-resets.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../core/log.ts";
import type { Store } from "../store/store.ts";
import { VERSION } from "../version.ts";
import type { Resources } from "./mode.ts";
import { EDGE_LEASE_FACTOR } from "./edge-groups.ts";

export async function startEdgeGateway(o: { config: Config; store: Store; bus: Bus; log: Logger; resources: Resources; resets?: RedisResetWatch | null }): Promise<EdgeGateway> {
  const log = o.log.child({ component: "edge" });
  const gateway = new EdgeGateway({ store: o.store, bus: o.bus, log, version: VERSION, leaseMs: o.config.leaseMs * EDGE_LEASE_FACTOR, ...(o.resets ? { resets: o.resets } : {}) });
  await gateway.start();
  const sweep = new EdgeSweep({ store: o.store, gateway, log });
  sweep.start();
  o.resources.add("edge gateway", async () => {
    gateway.stop();
    await sweep.stop();
  });
  return gateway;
}
