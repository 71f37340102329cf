// The api's read of a running instance (GET /api/v1/workflow-instances/:id, what `porpoise run
// --wait` polls), on the cluster with and without the instance snapshots in Redis
// (src/cache/instance-snapshots.ts; PORPOISE_INSTANCE_CACHE=off on every node for "without"), and
// on `porpoise all` (SQLite), which writes no snapshots. The cluster is 1 api + 1 master + 1
// worker on Postgres + Redis (the tests' harness, production lease). The instance has 10 tasks
// whose 10th waits on a file, so it stays RUNNING with 10 attempts while one client asks for it
// `reads` times in a row. At full size each cluster configuration also counts the database's
// transactions over its reads (pg-transactions.ts: each read statement outside a transaction is
// one): Postgres statements per read, an upper bound that includes the nodes' background
// (heartbeats, lease renewals, sweeps) over the window.
//
// Also runnable alone: `bun scripts/bench/cluster-instance-read.ts [smoke|full]`.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { createLogger } from "../../src/core/log.ts";
import { CLUSTER_SECRET, startCluster } from "../../test/cluster/cluster-harness.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";
import { countTransactions } from "./pg-transactions.ts";
import { startPorpoise } from "./porpoise-server.ts";

export const name = "cluster-instance-read";

type Api = (method: string, path: string, body?: unknown) => Promise<unknown>;
type TaskRow = { taskName: string; state: string };

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

/** `reads` sequential detail reads after 50 untimed ones; milliseconds each. */
async function timeReads(api: Api, id: number, reads: number, samples: number[]): Promise<void> {
  const read = async () => {
    const view = (await api("GET", `/workflow-instances/${id}`)) as { state: string; tasks: unknown[] };
    if (view.state !== "RUNNING_EXECUTION" || view.tasks.length !== 10) throw new Error(`unexpected view: ${view.state}, ${view.tasks.length} tasks`);
  };
  for (let i = 0; i < 50; i++) await read();
  for (let i = 0; i < reads; i++) {
    const t0 = performance.now();
    await read();
    samples.push(performance.now() - t0);
  }
}

async function onCluster(snapshots: boolean, reads: number, countQueries: boolean): Promise<BenchRow[]> {
  await using c = await startCluster({ prefix: "porpoise-bench-instance-read-", masters: 1, workers: 1, lease: 10, env: snapshots ? {} : { PORPOISE_INSTANCE_CACHE: "off" } });
  const api: Api = async (method, path, body) => {
    const res = await c.request(path, { method, ...(body === undefined ? {} : { json: body }) });
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${(await res.text()).slice(0, 300)}`);
    return res.json();
  };
  // The cluster's temp dir (0711) is where task users can reach the gate.
  const id = await holdInstance(api, c.tmp);
  if (snapshots) {
    const cache = new RedisCache({ url: c.redis.url, prefix: "porpoise:cache:", secret: CLUSTER_SECRET, log: createLogger({ level: "error", format: "text" }) });
    await waitFor("the snapshot with 10 attempts", async () => {
      const found = await cache.getVersioned(`instance:${id}`);
      return found !== null && (JSON.parse(found.value) as { tasks?: unknown[] }).tasks?.length === 10;
    });
    await cache.close();
  }
  const label = snapshots ? "cluster, snapshots in Redis" : "cluster, PORPOISE_INSTANCE_CACHE=off";
  const samples: number[] = [];
  const rows: BenchRow[] = [];
  if (countQueries) {
    const { transactions } = await countTransactions(c.dbUrl, () => timeReads(api, id, reads, samples));
    rows.push({ scenario: name, system: "porpoise-cluster", metric: `Postgres statements per detail read (${label})`, unit: "xact", value: transactions / (reads + 50), note: `pg_stat_database over ${reads + 50} reads, background included` });
  } else await timeReads(api, id, reads, samples);
  rows.push({ scenario: name, system: "porpoise-cluster", metric: `detail read of a running instance, 10 attempts (${label})`, unit: "ms", samples, note: "one client, sequential GETs, admin token" });
  writeFileSync(join(c.tmp, "go"), "1");
  return rows;
}

async function onAll(reads: number): Promise<BenchRow[]> {
  const gateDir = mkdtempSync(join(tmpdir(), "porpoise-bench-gate-"));
  chmodSync(gateDir, 0o711);
  try {
    await using server = await startPorpoise("sqlite");
    const api: Api = (method, path, body) => server.api(method, path, body);
    const id = await holdInstance(api, gateDir);
    const samples: number[] = [];
    await timeReads(api, id, reads, samples);
    writeFileSync(join(gateDir, "go"), "1");
    return [{ scenario: name, system: "porpoise-sqlite", metric: "detail read of a running instance, 10 attempts (all, SQLite: no snapshots)", unit: "ms", samples, note: "one client, sequential GETs, admin token" }];
  } finally {
    rmSync(gateDir, { recursive: true, force: true });
  }
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const reads = full ? 2000 : 200;
  return [...(await onCluster(true, reads, full)), ...(await onCluster(false, reads, full)), ...(await onAll(reads))];
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
