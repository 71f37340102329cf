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
  /** The groups as read now (one read shared by the callers of one turn); null if it failed and nothing is known. */
  fresh(): Promise<readonly string[] | null>;
  stop(): void;
}

/**
 * `edgeGroups`: the groups of live edge workers (they are not in the registry; modes/edge-gateway.ts
 * liveEdgeGroups reads them from the Store's edge_workers).
 */
export function servedGroupsFromRegistry(registry: NodeRegistry, leaseMs: number, log: Logger, edgeGroups?: () => Promise<readonly string[]>): ServedGroups {
  let served: string[] | null = null;
  let stopped = false;
  const read = async (): Promise<readonly string[] | null> => {
    try {
      const [nodes, edge] = await Promise.all([registry.nodes(), edgeGroups ? edgeGroups() : []]);
      served = [...new Set([...nodes.filter((n) => (n.role === "worker" || n.role === "all") && n.heartbeatAgeMs <= leaseMs).flatMap((n) => n.groups), ...edge])].sort();
    } catch (err) {
      log.debug("could not read the worker groups served from the node registry; keeping the last known", { err });
    }
    return served;
  };
  // fresh(): the callers of one turn of the event loop share a read that starts after all of them
  // asked, never one that started before: that could predate a worker registered just before the
  // attempt was queued (edge-cluster.test.ts saw a false note so, for a read 200 ms old).
  let next: Promise<readonly string[] | null> | null = null;
  const fresh = () =>
    (next ??= Promise.resolve().then(() => {
      next = null;
      return read();
    }));
  void read();
  const timer = setInterval(() => {
    if (!stopped) void read();
  }, Math.max(250, Math.floor(leaseMs / 2)));
  timer.unref?.();
  return {
    get: () => served,
    fresh,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
