// The api's read of a running instance (GET /api/v1/workflow-instances/:id, what `porpoise run
// --wait` polls) on the cluster, with and without the instance snapshots in Redis
// (src/cache/instance-snapshots.ts; PORPOISE_INSTANCE_CACHE=off on every node for "without").
// 1 api + 1 master + 1 worker on Postgres + Redis (the tests' cluster harness, production lease):
// an instance of 10 tasks whose 10th waits on a file, so it stays RUNNING with 10 attempts while
// the api is asked `reads` times in a row by one client. Each configuration also counts the
// database's transactions over the reads (pg-transactions.ts: every read statement outside a
// transaction is one): Postgres statements per read, an upper bound that includes the nodes'
// background (heartbeats, lease renewals, sweeps) over the window.
//
// Also runnable alone: `bun scripts/bench/cluster-instance-read.ts [smoke|full]`.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { createLogger } from "../../src/core/log.ts";
import { CLUSTER_SECRET, startCluster } from "../../test/cluster/cluster-harness.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";
import { countTransactions } from "./pg-transactions.ts";

export const name = "cluster-instance-read";

async function measure(snapshots: boolean, reads: number, countQueries: boolean): Promise<BenchRow[]> {
  await using c = await startCluster({
    prefix: "porpoise-bench-instance-read-",
    masters: 1,
    workers: 1,
    lease: 10,
    env: snapshots ? {} : { PORPOISE_INSTANCE_CACHE: "off" },
  });
  // The cluster's temp dir (0711) is where task users can reach the gate.
  const gateDir = c.tmp;
  const tasks = Array.from({ length: 9 }, (_, i) => ({ name: `t${i}`, type: "noop", ...(i > 0 ? { deps: [`t${i - 1}`] } : {}) }));
  tasks.push({ name: "held", type: "shell", deps: ["t8"], script: `while [ ! -f '${join(gateDir, "go")}' ]; do sleep 0.1; done` } as (typeof tasks)[number]);
  if ((await c.request("/projects", { method: "POST", json: { name: "bench" } })).status !== 201) throw new Error("could not create the project");
  const saved = await c.request("/projects/bench/workflows", { method: "POST", json: { name: "held", tasks } });
  if (saved.status !== 201) throw new Error(`could not save the workflow: ${saved.status} ${await saved.text()}`);
  const { id } = (await (await c.request("/projects/bench/workflows/held/run", { method: "POST", json: {} })).json()) as { id: number };
  await waitFor("the 10th task running", async () => (await c.store.taskInstances.listForInstance(id)).some((t) => t.taskName === "held" && t.state === "RUNNING_EXECUTION"), 60_000);
  if (snapshots) {
    const cache = new RedisCache({ url: c.redis.url, prefix: "porpoise:cache:", secret: CLUSTER_SECRET, log: createLogger({ level: "error", format: "text" }) });
    await waitFor("the snapshot with 10 attempts", async () => {
      const found = await cache.getVersioned(`instance:${id}`);
      return found !== null && (JSON.parse(found.value) as { tasks?: unknown[] }).tasks?.length === 10;
    });
    await cache.close();
  }
  const read = async () => {
    const res = await c.request(`/workflow-instances/${id}`);
    if (res.status !== 200) throw new Error(`GET /workflow-instances/${id} → ${res.status}`);
    const view = (await res.json()) as { state: string; tasks: unknown[] };
    if (view.state !== "RUNNING_EXECUTION" || view.tasks.length !== 10) throw new Error(`unexpected view: ${view.state}, ${view.tasks.length} tasks`);
  };
  for (let i = 0; i < 50; i++) await read();
  const samples: number[] = [];
  const work = async () => {
    for (let i = 0; i < reads; i++) {
      const t0 = performance.now();
      await read();
      samples.push(performance.now() - t0);
    }
  };
  const label = snapshots ? "snapshots in Redis" : "PORPOISE_INSTANCE_CACHE=off";
  const rows: BenchRow[] = [];
  if (countQueries) {
    const { transactions } = await countTransactions(c.dbUrl, work);
    rows.push({ scenario: name, system: "porpoise-cluster", metric: `Postgres statements per detail read (${label})`, unit: "xact", value: transactions / reads, note: `pg_stat_database over ${reads} reads, background included` });
  } else await work();
  rows.push({ scenario: name, system: "porpoise-cluster", metric: `detail read of a running instance, 10 attempts (${label})`, unit: "ms", samples, note: "one client, sequential GETs, admin token" });
  writeFileSync(join(gateDir, "go"), "1");
  return rows;
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const reads = full ? 2000 : 200;
  return [...(await measure(true, reads, full)), ...(await measure(false, reads, full))];
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
