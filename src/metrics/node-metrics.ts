// Figures of a node's ports, read on each scrape from their source of truth: ready-queue depth
// per worker group (Bus.depth), messages the Bus dropped (Bus.dropped(): unsigned, forged,
// malformed), and the cluster as this node sees it — slots it owns, leases it lost, how many of
// the cluster's slots nobody owns, and each worker's heartbeat age (from the node registry).

import type { MetricsRegistry } from "./registry.ts";

export interface BusFigures {
  depth(group: string): Promise<number>;
  dropped(): { unsigned: number; forged: number; malformed: number };
}

/** `groups()`: the worker groups whose queues to measure (bounded: served ones and those workflows name). */
export function registerBusMetrics(metrics: MetricsRegistry, bus: BusFigures, groups: () => Iterable<string>): void {
  metrics.gauge({
    name: "porpoise_ready_queue_depth",
    help: "Ready tasks waiting (not claimed) in a worker group's queue, by worker group: the backlog an autoscaler of workers watches.",
    labels: ["worker_group"],
    collect: async (g) => {
      const seen = [...new Set(groups())];
      const depths = await Promise.all(seen.map((group) => bus.depth(group).catch(() => null)));
      g.reset();
      seen.forEach((group, i) => {
        const d = depths[i];
        if (d !== null && d !== undefined) g.labels(group).set(d);
      });
    },
  });
  metrics.counter({
    name: "porpoise_bus_messages_dropped_total",
    help: "Messages this node's Bus dropped on receipt instead of handing them on, by reason: unsigned, forged (bad signature) or malformed. Always 0 in-process.",
    labels: ["reason"],
    collect: (c) => {
      const d = bus.dropped();
      c.reset();
      c.labels("unsigned").inc(d.unsigned);
      c.labels("forged").inc(d.forged);
      c.labels("malformed").inc(d.malformed);
    },
  });
}

export interface SlotFigures {
  slotCount: number;
  ownedSlots(): readonly number[];
  onChange(listener: (change: { lost: readonly unknown[] }) => void): () => void;
}

/** A node that owns slots (master, all): what it holds and what it lost. */
export function registerSlotMetrics(metrics: MetricsRegistry, coordinator: SlotFigures): () => void {
  metrics.gauge({ name: "porpoise_cluster_slots_owned", help: "Slots (shards of workflow instances and schedules) this node's master holds now.", collect: (g) => g.set(coordinator.ownedSlots().length) });
  const lost = metrics.counter({
    name: "porpoise_cluster_slot_leases_lost_total",
    help: "Slot leases this node's master gave up or lost (rebalanced to another master, not renewed in time, or released at shutdown).",
  });
  lost.inc(0);
  return coordinator.onChange((change) => {
    if (change.lost.length > 0) lost.inc(change.lost.length);
  });
}

export interface RegistryFigures {
  nodes(): Promise<readonly { id: string; role: string; slots: readonly number[]; heartbeatAgeMs: number }[]>;
}

/**
 * The cluster as the node registry shows it (one registry read per scrape): slots no live master
 * holds, and each worker's heartbeat age. Nodes older than `forgetAfterMs` are left out (the
 * registry keeps a dead node's row until it is swept), so the label set stays the live cluster.
 */
export function registerClusterMetrics(metrics: MetricsRegistry, registry: RegistryFigures, o: { slotCount: number; leaseMs: number }): void {
  type Nodes = Awaited<ReturnType<RegistryFigures["nodes"]>> | null;
  let reading: Promise<Nodes> | null = null;
  let readAt = -Infinity;
  // One registry read serves both gauges of a scrape (they are collected together); the next scrape reads again.
  const read = (): Promise<Nodes> => {
    if (!reading || performance.now() - readAt > 100) {
      readAt = performance.now();
      reading = registry.nodes().catch(() => null);
    }
    return reading;
  };
  metrics.gauge({
    name: "porpoise_cluster_slots_unowned",
    help: "Slots no live master holds, as the node registry shows them: their instances and schedules wait for a master (should be 0 a couple of leases after any change).",
    collect: async (g) => {
      const all = await read();
      if (all === null) return;
      const held = new Set<number>();
      for (const n of all) if ((n.role === "master" || n.role === "all") && n.heartbeatAgeMs <= o.leaseMs * 1.5) for (const s of n.slots) held.add(s);
      g.set(o.slotCount - held.size);
    },
  });
  metrics.gauge({
    name: "porpoise_cluster_worker_heartbeat_age_seconds",
    help: "Seconds since each worker's last heartbeat in the node registry (on the database clock), by node id; past 1.5 leases a worker counts as dead and its attempts run elsewhere.",
    labels: ["node"],
    collect: async (g) => {
      const all = await read();
      if (all === null) return;
      g.reset();
      for (const n of all) {
        if ((n.role === "worker" || n.role === "all") && n.heartbeatAgeMs <= o.leaseMs * 6) g.labels(n.id).set(n.heartbeatAgeMs / 1000);
      }
    },
  });
}
