// GET /api/v1/cluster: the nodes of the cluster and who holds which slot, read from the Store
// (cluster_nodes and slot_leases, docs/architecture.md §3.3). Any logged-in user may read it: it
// names nodes, hosts, versions and slot owners — what an operator needs to see the cluster is
// whole — and nothing of any project. Ages are on the database clock.
// Ready queues: the depth of each worker group's queue from this node's Bus (Bus.depth, the read
// behind porpoise_ready_queue_depth), for every group a live worker serves and every group an
// attempt waits in DISPATCH for (one indexed Store read) — so a group nobody serves shows up with
// its waiting tasks.

import { z } from "zod";
import type { ReadyQueueFigures } from "../deps.ts";
import { defineRoute } from "../route.ts";

const date = z.string().meta({ format: "date-time" });

const nodeView = z.object({
  id: z.string(),
  role: z.string().describe("master | worker | api | all"),
  host: z.string(),
  version: z.string(),
  groups: z.array(z.string()).describe("worker groups served (workers and all)"),
  slots: z.array(z.number().int()).describe("slots held at the last heartbeat (masters and all)"),
  startedAt: date,
  heartbeatAgeMs: z.number().int().describe("milliseconds since the last heartbeat"),
});

const leaseView = z.object({
  slot: z.number().int(),
  owner: z.string().nullable(),
  epoch: z.number().int(),
  expiresInMs: z.number().int().nullable().describe("negative: expired; null: never leased"),
});

const edgeWorkerView = z.object({
  id: z.string(),
  host: z.string(),
  version: z.string(),
  arch: z.string().describe("x64 | arm64"),
  platform: z.string(),
  groups: z.array(z.string()),
  slots: z.number().int(),
  running: z.array(z.object({ taskInstanceId: z.number().int(), attempt: z.number().int() })).describe("attempts running at the last heartbeat"),
  registeredAt: date,
  heartbeatAgeMs: z.number().int().describe("milliseconds since the last heartbeat (database clock)"),
});

const gatewayView = z
  .object({
    forged: z.number().int().describe("events and log chunks refused: no such attempt and dispatch token"),
    superseded: z.number().int().describe("results refused: the attempt ended otherwise meanwhile"),
    duplicates: z.number().int().describe("results sent again after a lost answer, taken once"),
    accepted: z.number().int(),
    dropped: z.number().int().describe("claimed ready tasks not handed out: no longer this DISPATCH attempt"),
    sessions: z.number().int(),
  })
  .nullable()
  .describe("counts of the edge gateway of the api node that answered (since it started); null without one");

const queueView = z.object({
  workerGroup: z.string(),
  depth: z.number().int().nullable().describe("tasks waiting, not claimed, in the group's ready queue (Bus); null: the Bus could not be read"),
  dispatched: z.number().int().describe("attempts in DISPATCH for this group in the Store: queued, or handed to a worker that has not started them yet"),
  served: z.boolean().nullable().describe("a live worker (in-process, cluster or edge) serves the group; false: its tasks wait until one does; null: not known yet"),
});

const clusterView = z.object({
  readyQueues: z
    .array(queueView)
    .nullable()
    .describe("per worker group: served ones and those attempts wait for, by name; null on a node without a Bus"),
  nodes: z.array(nodeView),
  edgeGateway: gatewayView,
  edgeWorkers: z.array(edgeWorkerView).describe("edge workers (porpoise worker --gateway), reached through the api nodes' gateway"),
  slots: z.object({
    count: z.number().int().describe("slot lease rows (0 while no Postgres coordinator has started: porpoise all owns every slot in memory)"),
    held: z.number().int().describe("slots with an owner whose lease has not expired"),
    leases: z.array(leaseView),
  }),
});

export const clusterRoutes = [
  defineRoute({
    method: "GET",
    path: "/api/v1/cluster",
    operationId: "getCluster",
    tag: "cluster",
    summary: "Ready-queue depth per worker group (served or not), nodes (role, host, version, groups, slots, heartbeat age), edge workers (groups, version, architecture, heartbeat, running attempts) and the owner, epoch and expiry of every slot lease",
    description: "Any logged-in user may read it. Nodes whose heartbeat stopped are listed until they are swept.",
    auth: "user",
    response: clusterView,
    handler: async ({ deps }) => {
      const [nodes, leases, edge, readyQueues] = await Promise.all([
        deps.store.cluster.nodes(),
        deps.store.cluster.slotLeases(),
        deps.store.edgeWorkers.list(),
        deps.readyQueues ? queues(deps.readyQueues, () => deps.store.taskInstances.dispatchedByGroup()) : null,
      ]);
      return {
        readyQueues,
        nodes: nodes.map((n) => ({
          id: n.id,
          role: n.role,
          host: n.host,
          version: n.version,
          groups: [...n.groups],
          slots: [...n.slots],
          startedAt: n.startedAt.toISOString(),
          heartbeatAgeMs: n.heartbeatAgeMs,
        })),
        edgeGateway: deps.edgeGateway ? { ...deps.edgeGateway.counts } : null,
        edgeWorkers: edge.map((w) => ({
          id: w.id,
          host: w.host,
          version: w.version,
          arch: w.arch,
          platform: w.platform,
          groups: [...w.groups],
          slots: w.slots,
          running: w.running.map((r) => ({ taskInstanceId: r.taskInstanceId, attempt: r.attempt })),
          registeredAt: w.registeredAt.toISOString(),
          heartbeatAgeMs: w.heartbeatAgeMs,
        })),
        slots: {
          count: leases.length,
          held: leases.filter((l) => l.owner !== null && l.expiresInMs !== null && l.expiresInMs > 0).length,
          leases,
        },
      };
    },
  }),
];

async function queues(q: ReadyQueueFigures, dispatched: () => Promise<Record<string, number>>): Promise<z.infer<typeof queueView>[]> {
  const waiting = await dispatched();
  const served = q.served();
  const groups = [...new Set([...(served ?? []), ...Object.keys(waiting)])].sort();
  const depths = await Promise.all(groups.map((g) => q.depth(g).catch(() => null)));
  return groups.map((workerGroup, i) => ({
    workerGroup,
    depth: depths[i] ?? null,
    dispatched: waiting[workerGroup] ?? 0,
    served: served === null ? null : served.includes(workerGroup),
  }));
}
