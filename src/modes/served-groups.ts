// The worker groups some live worker serves, read from the node registry every half lease, for a
// master in a cluster: an attempt queued for a group nobody serves says so on the task and on the
// instance (master/unserved-groups.ts). null until the first read: "not known" notes nothing.

import type { NodeRegistry } from "../coordinator/coordinator.ts";
import type { Logger } from "../core/log.ts";

export interface ServedGroups {
  get(): readonly string[] | null;
  stop(): void;
}

export function servedGroupsFromRegistry(registry: NodeRegistry, leaseMs: number, log: Logger): ServedGroups {
  let served: string[] | null = null;
  let stopped = false;
  const refresh = async () => {
    try {
      const nodes = await registry.nodes();
      served = [...new Set(nodes.filter((n) => (n.role === "worker" || n.role === "all") && n.heartbeatAgeMs <= leaseMs).flatMap((n) => n.groups))].sort();
    } catch (err) {
      log.debug("could not read the worker groups served from the node registry; keeping the last known", { err });
    }
  };
  void refresh();
  const timer = setInterval(() => {
    if (!stopped) void refresh();
  }, Math.max(250, Math.floor(leaseMs / 2)));
  timer.unref?.();
  return {
    get: () => served,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
