// The api's read of a running instance (GET /api/v1/workflow-instances/:id, what `porpoise run
// --wait` polls), on the cluster with and without the instance snapshots in Redis
// (src/cache/instance-snapshots.ts; PORPOISE_INSTANCE_CACHE=off on every node for "without"), and
// on `porpoise all` (SQLite), which writes no snapshots. Each cluster is 1 api + 1 master + 1
// worker on Postgres + Redis (the tests' harness, production lease). In each system an instance
// of 10 tasks whose 10th waits on a file stays RUNNING with 10 attempts, and one client reads the
// three in turn, `reads` times each: the systems run side by side and are read interleaved, so
// the load of a shared machine falls on all of them alike. At full size the transactions of
// each cluster's database are counted over the reads (pg-transactions.ts: a read statement
// outside a transaction is one), minus the nodes' background (heartbeats, lease renewals,
// sweeps) counted over an idle window as long: Postgres statements per read.
//
// Also runnable alone: `bun scripts/bench/cluster-instance-read.ts [smoke|full] [reads]`.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { createLogger } from "../../src/core/log.ts";
import { CLUSTER_SECRET, type Cluster, startCluster } from "../../test/cluster/cluster-harness.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";
import { SETTLE_MS, transactionCount } from "./pg-transactions.ts";
import { startPorpoise } from "./porpoise-server.ts";

export const name = "cluster-instance-read";

type Api = (method: string, path: string, body?: unknown) => Promise<unknown>;
type TaskRow = { taskName: string; state: string };

interface Target {
  label: string;
  system: "porpoise-cluster" | "porpoise-sqlite";
  api: Api;
  id: number;
  gateDir: string;
  dbUrl: string | null;
  samples: number[];
}

/** Starts the held instance; resolves with its id once its 10th task runs. */
async function holdInstance(api: Api, gateDir: string): Promise<number> {
  const tasks: Record<string, unknown>[] = Array.from({ length: 9 }, (_, i) => ({ name: `t${i}`, type: "noop", ...(i > 0 ? { deps: [`t${i - 1}`] } : {}) }));
  tasks.push({ name: "held", type: "shell", deps: ["t8"], script: `while [ ! -f '${join(gateDir, "go")}' ]; do sleep 0.1; done` });
  await api("POST", "/projects", { name: "bench" });
  await api("POST", "/projects/bench/workflows", { name: "held", tasks });
  const { id } = (await api("POST", "/projects/bench/workflows/held/run", {})) as { id: number };
  await waitFor("the 10th task running", async () => ((await api("GET", `/workflow-instances/${id}`)) as { tasks: TaskRow[] }).tasks.some((t) => t.taskName === "held" && t.state === "RUNNING_EXECUTION"), 60_000);
  return id;
}

async function read(t: Target): Promise<number> {
  const t0 = performance.now();
  const view = (await t.api("GET", `/workflow-instances/${t.id}`)) as { state: string; tasks: unknown[] };
  const ms = performance.now() - t0;
  if (view.state !== "RUNNING_EXECUTION" || view.tasks.length !== 10) throw new Error(`${t.label}: unexpected view: ${view.state}, ${view.tasks.length} tasks`);
  return ms;
}

async function clusterTarget(c: Cluster, snapshots: boolean): Promise<Target> {
  const api: Api = async (method, path, body) => {
    const res = await c.request(path, { method, ...(body === undefined ? {} : { json: body }) });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${(await res.text()).slice(0, 300)}`);
    return res.json();
  };
  // The cluster's temp dir (0711) is where task users can reach the gate.
  const id = await holdInstance(api, c.tmp);
  if (snapshots) {
    const cache = new RedisCache({ url: c.redis.url, prefix: "porpoise:cache:", secret: CLUSTER_SECRET, log: createLogger({ level: "error", format: "text" }) });
    // The master writes the snapshots of the instances the api reads: the first read asks for it.
    await api("GET", `/workflow-instances/${id}`);
    await waitFor("the snapshot with 10 attempts", async () => {
      const found = await cache.getVersioned(`instance:${id}`);
      return found !== null && (JSON.parse(found.value) as { tasks?: unknown[] }).tasks?.length === 10;
    });
    await cache.close();
  }
  const label = snapshots ? "cluster, snapshots in Redis" : "cluster, PORPOISE_INSTANCE_CACHE=off";
  return { label, system: "porpoise-cluster", api, id, gateDir: c.tmp, dbUrl: c.dbUrl, samples: [] };
}

/** `readsOverride`: from the command line when run alone (a short full run on a busy machine). */
export async function run(opts: { size: BenchSize }, readsOverride?: number): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const reads = readsOverride ?? (full ? 2000 : 200);
  const cluster = (snapshots: boolean) =>
    startCluster({ prefix: "porpoise-bench-instance-read-", masters: 1, workers: 1, lease: 10, env: snapshots ? {} : { PORPOISE_INSTANCE_CACHE: "off" } });
  await using cached = await cluster(true);
  await using uncached = await cluster(false);
  await using all = await startPorpoise("sqlite");
  const allGate = mkdtempSync(join(tmpdir(), "porpoise-bench-gate-"));
  chmodSync(allGate, 0o711);
  try {
    const allApi: Api = (method, path, body) => all.api(method, path, body);
    const targets: Target[] = [
      await clusterTarget(cached, true),
      await clusterTarget(uncached, false),
      { label: "all, SQLite: no snapshots", system: "porpoise-sqlite", api: allApi, id: await holdInstance(allApi, allGate), gateDir: allGate, dbUrl: null, samples: [] },
    ];
    for (let i = 0; i < 50; i++) for (const t of targets) await read(t);
    const counted = full ? targets.filter((t) => t.dbUrl !== null) : [];
    if (counted.length > 0) await Bun.sleep(SETTLE_MS);
    const before = await Promise.all(counted.map((t) => transactionCount(t.dbUrl!)));
    const windowStart = performance.now();
    for (let i = 0; i < reads; i++) for (const t of targets) t.samples.push(await read(t));
    if (counted.length > 0) await Bun.sleep(SETTLE_MS);
    const after = await Promise.all(counted.map((t) => transactionCount(t.dbUrl!)));
    // The nodes' background over a window as long, without reads: subtracted from the figure.
    if (counted.length > 0) await Bun.sleep(performance.now() - windowStart);
    const idle = await Promise.all(counted.map((t) => transactionCount(t.dbUrl!)));
    for (const t of targets) writeFileSync(join(t.gateDir, "go"), "1");
    const rows: BenchRow[] = targets.map((t) => ({
      scenario: name,
      system: t.system,
      metric: `detail read of a running instance, 10 attempts (${t.label})`,
      unit: "ms",
      samples: t.samples,
      note: "one client, sequential GETs interleaved across the systems, admin token",
    }));
    counted.forEach((t, i) => {
      const total = after[i]! - before[i]!;
      const background = idle[i]! - after[i]!;
      rows.push({
        scenario: name,
        system: t.system,
        metric: `Postgres statements per detail read (${t.label})`,
        unit: "xact",
        value: (total - background) / reads,
        note: `pg_stat_database: ${total} over ${reads} reads, minus ${background} over an idle window as long`,
      });
    });
    return rows;
  } finally {
    rmSync(allGate, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  const reads = process.argv[3] ? Number(process.argv[3]) : undefined;
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" }, reads)).map(summarize));
}
