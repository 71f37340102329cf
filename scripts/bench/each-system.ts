// The porpoise systems an end-to-end scenario (all-*.ts) runs on, one after another, each on
// a fresh start: `porpoise all` on SQLite and on Postgres (porpoise-server.ts), and the cluster
// on Postgres + Redis (porpoise-cluster.ts) — 1 api + 1 master + 1 worker; 2 masters + 2
// workers; and 1 + 1 + 1 with the dispatch cache off. Not a scenario (exports no `run`).

import type { BenchRow, BenchSystem } from "./bench-types.ts";
import { CLUSTER_SHAPES, type ClusterSystem, startPorpoiseCluster } from "./porpoise-cluster.ts";
import { PartialFailure, type PorpoiseServer, startPorpoise } from "./porpoise-server.ts";

export type PorpoiseSystem = Extract<BenchSystem, `porpoise-${string}`>;

/** What every end-to-end scenario runs on unless it asks for more. */
export const DEFAULT_SYSTEMS: PorpoiseSystem[] = ["porpoise-sqlite", "porpoise-postgres", "porpoise-cluster"];

export interface EachSystemOptions {
  /** --worker-slots of `all`, and of each cluster worker (the 2×2 cluster has twice as many in all). */
  workerSlots?: number;
  systems?: PorpoiseSystem[];
}

export async function startSystem(system: PorpoiseSystem, workerSlots?: number): Promise<PorpoiseServer> {
  if (system === "porpoise-sqlite" || system === "porpoise-postgres") {
    return startPorpoise(system === "porpoise-sqlite" ? "sqlite" : "postgres", { extraArgs: workerSlots === undefined ? [] : ["--worker-slots", String(workerSlots)] });
  }
  return startPorpoiseCluster(CLUSTER_SHAPES[system as ClusterSystem], workerSlots === undefined ? {} : { workerSlots });
}

/** PORPOISE_BENCH_SYSTEMS=porpoise-sqlite,porpoise-cluster keeps only those systems (a quick check of one). */
function onlyListed(systems: readonly PorpoiseSystem[]): PorpoiseSystem[] {
  const listed = process.env.PORPOISE_BENCH_SYSTEMS?.split(",").map((s) => s.trim()).filter(Boolean);
  return listed && listed.length > 0 ? systems.filter((s) => listed.includes(s)) : [...systems];
}

/**
 * Runs `measure` on each system against its own fresh start. One system failing does not stop
 * the others: their rows are kept and the failures are thrown together at the end.
 */
export async function eachSystem(measure: (server: PorpoiseServer, system: PorpoiseSystem) => Promise<BenchRow[]>, o: EachSystemOptions = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const errors: string[] = [];
  for (const system of onlyListed(o.systems ?? DEFAULT_SYSTEMS)) {
    try {
      await using server = await startSystem(system, o.workerSlots);
      rows.push(...(await measure(server, system)));
    } catch (err) {
      errors.push(`${system}: ${(err as Error)?.stack ?? err}`);
    }
  }
  if (errors.length > 0) throw new PartialFailure(errors.join("\n"), rows);
  return rows;
}
