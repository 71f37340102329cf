// The worker groups of edge workers that beat within the edge lease, read from the Store's
// edge_workers: edge workers are not in the node registry, and a master or api node would
// otherwise note their tasks as "no worker serves group X" (modes/served-groups.ts).

import type { Store } from "../store/store.ts";

/** The edge lease is three cluster leases (modes/edge-gateway.ts). */
export const EDGE_LEASE_FACTOR = 3;

export async function liveEdgeGroups(store: Store, clusterLeaseMs: number): Promise<string[]> {
  const live = (await store.edgeWorkers.list()).filter((w) => w.heartbeatAgeMs <= clusterLeaseMs * EDGE_LEASE_FACTOR);
  return [...new Set(live.flatMap((w) => w.groups))];
}
