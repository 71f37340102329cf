// The cluster as a benchmark system (issue 10, "Benchmarks"): `porpoise api`, masters and
// workers as separate processes (bun src/main.ts) on a fresh Postgres database and a throwaway
// redis-server, started by the cluster tests' harness (test/cluster/cluster-harness.ts) and
// driven only through the api node's HTTP API, behind the same PorpoiseServer interface as
// `porpoise all` (porpoise-server.ts), so every all-* scenario runs on it unchanged.
// Not a scenario itself (exports no `run`).
//
// The lease is the production default (10 s) unless a scenario asks for another: heartbeats
// and lease renewals run three times per lease, and they are part of what the cluster costs
// Postgres (pg-transactions.ts counts them in).

import { ADMIN_TOKEN, type Cluster, type ClusterNode, startCluster } from "../../test/cluster/cluster-harness.ts";
import { FROM_SOURCE, type PorpoiseServer, procStatusMb } from "./porpoise-server.ts";

export type ClusterSystem = "porpoise-cluster" | "porpoise-cluster-2x2" | "porpoise-cluster-nocache";

export interface ClusterShape {
  masters: number;
  workers: number;
  /** PORPOISE_DISPATCH_CACHE=off on every node: workers read the Store for the dispatch check (src/cache/dispatch-records.ts). */
  dispatchCache: boolean;
}

export const CLUSTER_SHAPES: Record<ClusterSystem, ClusterShape> = {
  "porpoise-cluster": { masters: 1, workers: 1, dispatchCache: true },
  "porpoise-cluster-2x2": { masters: 2, workers: 2, dispatchCache: true },
  "porpoise-cluster-nocache": { masters: 1, workers: 1, dispatchCache: false },
};

export interface PorpoiseCluster extends PorpoiseServer {
  readonly cluster: Cluster;
  /** The cluster's Postgres database (for pg_stat_database). */
  readonly dbUrl: string;
}

/** Every node of the cluster with its pid (api first, then masters, then workers). */
export function clusterNodes(c: Cluster): ClusterNode[] {
  return [c.apiNode, ...c.masters, ...c.workers];
}

/** Starts the cluster and resolves once every node logged "ready"; disposing kills the nodes, redis and the database. */
export async function startPorpoiseCluster(shape: ClusterShape, opts: { workerSlots?: number; lease?: number; command?: string[] } = {}): Promise<PorpoiseCluster> {
  const cluster = await startCluster({
    prefix: "porpoise-bench-cluster-",
    masters: shape.masters,
    workers: shape.workers,
    lease: opts.lease ?? 10,
    workerSlots: opts.workerSlots ?? 4,
    // info: the harness waits for the nodes' "ready" lines; the per-instance lines are cheap.
    env: shape.dispatchCache ? {} : { PORPOISE_DISPATCH_CACHE: "off" },
    // From source unless a command is given; PORPOISE_BENCH_PROFILE then profiles every node (porpoise-server.ts).
    command: (args: string[]) => [...(opts.command ?? FROM_SOURCE), ...args],
  });
  const api = cluster.api;
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
  return {
    cluster,
    dbUrl: cluster.dbUrl,
    pid: cluster.apiNode.proc.pid,
    base: api.replace(/\/api\/v1$/, ""),
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${api}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    /** Summed over every node: the cluster's footprint on this machine, comparable to one `porpoise all`. */
    memory() {
      let rssMb = 0;
      let hwmMb = 0;
      for (const n of clusterNodes(cluster)) {
        rssMb += procStatusMb(n.proc.pid, "VmRSS");
        hwmMb += procStatusMb(n.proc.pid, "VmHWM");
      }
      return { rssMb, hwmMb };
    },
    async [Symbol.asyncDispose]() {
      // A profile is written at a clean exit only: the nodes get a SIGTERM first.
      if (process.env.PORPOISE_BENCH_PROFILE) {
        for (const n of clusterNodes(cluster)) n.proc.signal("SIGTERM");
        await Promise.allSettled(clusterNodes(cluster).map((n) => n.proc.exit(15_000)));
      }
      await cluster[Symbol.asyncDispose]();
    },
  };
}
