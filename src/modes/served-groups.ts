// The worker groups some live worker serves, read from the node registry every half lease, for a
// master in a cluster: an attempt queued for a group nobody serves says so on the task and on the
// instance (master/unserved-groups.ts). null until the first read: "not known" notes nothing.
// A group missing from the last read is read again before anything is noted (fresh()): a worker
// that registered since the last read (a master started before its workers) serves it, and a
// false note would cost every such attempt a second commit and tell the user something untrue.

import type { NodeRegistry } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";

export interface ServedGroups {
  get(): readonly string[] | null;
  /** The groups as read now (one read shared by the callers of the next FRESH_MS); null if it failed and nothing is known. */
  fresh(): Promise<readonly string[] | null>;
  stop(): void;
}

/** Reads of fresh() closer together than this share one. */
const FRESH_MS = 250;

/**
 * `edgeGroups`: the groups of live edge workers (they are not in the registry; modes/edge-gateway.ts
 * liveEdgeGroups reads them from the Store's edge_workers).
 */
export function servedGroupsFromRegistry(registry: NodeRegistry, leaseMs: number, log: Logger, edgeGroups?: () => Promise<readonly string[]>): ServedGroups {
  let served: string[] | null = null;
  let stopped = false;
  let reading: Promise<readonly string[] | null> | null = null;
  let readStartedAt = -Infinity;
  const refresh = (): Promise<readonly string[] | null> => {
    if (reading && performance.now() - readStartedAt < FRESH_MS) return reading;
    readStartedAt = performance.now();
    reading = (async () => {
      try {
        const [nodes, edge] = await Promise.all([registry.nodes(), edgeGroups ? edgeGroups() : []]);
        served = [...new Set([...nodes.filter((n) => (n.role === "worker" || n.role === "all") && n.heartbeatAgeMs <= leaseMs).flatMap((n) => n.groups), ...edge])].sort();
      } catch (err) {
        log.debug("could not read the worker groups served from the node registry; keeping the last known", { err });
      }
      return served;
    })();
    return reading;
  };
  void refresh();
  const timer = setInterval(() => {
    if (!stopped) void refresh();
  }, Math.max(250, Math.floor(leaseMs / 2)));
  timer.unref?.();
  return {
    get: () => served,
    fresh: () => refresh(),
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
