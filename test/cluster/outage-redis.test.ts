// Redis loses everything mid-run (issue 10, docs/architecture.md §3.1): 2 masters, 2 workers and
// the api on a throwaway redis-server; 100 instances of a diamond DAG whose shell tasks sleep and
// write a ledger. Once a quarter of the effects are in, (1) FLUSHALL, or (2) kill -9 of
// redis-server and a start again 2 s later (no persistence: it comes back empty). Ready queues,
// event streams and cached dispatch rows are gone; the masters rebuild them from the Store
// (their reconciliation re-enqueues DISPATCH attempts nobody took). Checks: no process exits,
// every instance SUCCESS, one effect per task, no two executions of a task at once.
//
//   ./node_modules/.bin/bun test --timeout 60000 test/cluster/outage-redis.test.ts

import { expect, test } from "bun:test";
import { createLedger } from "../helpers/ledger.ts";
import { waitFor } from "../helpers/wait.ts";
import { type Cluster, startCluster } from "./cluster-harness.ts";
import { attemptCounts, defineLedgerWorkflow, DIAMOND, expectAllAlive, expectCleanRun, nodeLines, submitRuns, waitAllEnded } from "./cluster-workload.ts";

const INSTANCES = 100;

/** 2 masters + 2 workers, or (`all`) 2 `porpoise all --redis` nodes, each its own master and worker. */
async function scenario(kind: "FLUSHALL" | "kill -9 + restart", fault: (c: Cluster) => Promise<void>, shape: "cluster" | "all" = "cluster"): Promise<void> {
  await using ledger = await createLedger();
  const nodes = shape === "cluster" ? { masters: 2, workers: 2 } : { masters: 0, workers: 0, allNodes: 2 };
  await using c = await startCluster({ prefix: "porpoise-outage-redis-", ...nodes, workerSlots: 8, lease: 5, args: { worker: ["--log-level", "debug"] } });
  await defineLedgerWorkflow(c, ledger, "burst", "sleep 0.2");
  const total = INSTANCES * DIAMOND.length;
  const t0 = Date.now();
  const ids = await submitRuns(c, "burst", INSTANCES);
  console.log(`${kind}: ${INSTANCES} runs submitted in ${Date.now() - t0} ms`);
  await waitFor("an eighth of the effects", async () => (await ledger.read()).rows.length >= total / 8, 90_000, 100);
  console.log(`${kind}: an eighth of the effects in ${Date.now() - t0} ms after the first run was submitted`);
  const before = (await ledger.read()).rows.length;
  const faultAt = Date.now();
  await fault(c);
  const states = await waitAllEnded(c, ids, 90_000).catch(async (err) => {
    console.log(`attempts: ${JSON.stringify(await attemptCounts(c, ids))}\n${nodeLines(c, /warn|error|dropped/i).slice(-80).join("\n")}`);
    const stuck = (await Promise.all(ids.map((id) => c.store.taskInstances.listForInstance(id)))).flat().filter((t) => t.state === "DISPATCH" || t.state === "RUNNING_EXECUTION");
    console.log(stuck.slice(0, 20).map((t) => `${t.id} ${t.workflowInstanceId}/${t.taskName} attempt ${t.attempt} ${t.state} host ${t.host} token ${t.dispatchToken}`).join("\n"));
    throw err;
  });
  const endedMs = Date.now() - faultAt;
  expectAllAlive(c);
  const report = await ledger.read();
  const attempts = await attemptCounts(c, ids);
  console.log(
    `Redis ${kind} mid-run: ${INSTANCES} instances × ${DIAMOND.length} tasks, ${shape === "cluster" ? "2 masters + 2 workers" : "2 all --redis nodes"}; ${before}/${total} effects in at the fault; ` +
      `after it ${states.filter((s) => s === "SUCCESS").length}/${INSTANCES} SUCCESS, ledger ${report.rows.length}/${total}, ` +
      `${report.duplicates.length} duplicated, ${report.overlaps.length} overlapping; attempts ${JSON.stringify(attempts)}; ` +
      `all ended ${(endedMs / 1000).toFixed(1)} s after the fault (${((Date.now() - t0) / 1000).toFixed(1)} s in all)`,
  );
  const failed = (await Promise.all(ids.map((id) => c.store.taskInstances.listForInstance(id)))).flat().filter((t) => t.state === "FAILURE");
  if (failed.length > 0) console.log(`failed attempts, e.g.: ${failed.slice(0, 3).map((t) => `${t.id} ${t.taskName} exit ${t.exitCode} host ${t.host} ${t.message}`).join("\n")}`);
  console.log(nodeLines(c, /enqueued them again|gone \(no heartbeat|resending|again \(Redis lost/).slice(0, 20).join("\n"));
  expectCleanRun(ids, states, report);
}

// Task events a worker had added to a slot's stream that no master had read yet go with Redis's
// contents; the worker publishes its recent events again once it sees Redis's boot marker change
// (bus/recent-events.ts). Before that, these tests failed 2 of 2 in a quiet CI run: one to nine
// attempts stayed RUNNING (or DISPATCH) with their done event gone. test/cluster/worker-republish.
// test.ts pins the mechanism on one worker.

test("Redis FLUSHALL mid-run: nothing lost, all SUCCESS, 0 duplicates", async () => {
  await scenario("FLUSHALL", async (c) => {
    const out = Bun.spawnSync(["redis-cli", "-u", c.redis.url, "FLUSHALL"]);
    expect(out.stdout.toString().trim()).toBe("OK");
  });
}, 180_000);

test("Redis kill -9 and restart mid-run: nothing lost, all SUCCESS, 0 duplicates", async () => {
  await scenario("kill -9 + restart", async (c) => {
    await c.redis.kill();
    await Bun.sleep(2000);
    await c.redis.start();
  });
}, 180_000);

// `porpoise all --db postgres://… --redis …` is a cluster node too: before its master had the
// cached dispatch rows, a flush left the DISPATCH attempts whose ready tasks it took in DISPATCH for
// good (all 30 tasks of 4 instances of 5, 20 s after a FLUSHALL, in a manual run).
test("Redis FLUSHALL mid-run under two `all --redis` nodes: nothing lost, all SUCCESS, 0 duplicates", async () => {
  await scenario(
    "FLUSHALL",
    async (c) => {
      const out = Bun.spawnSync(["redis-cli", "-u", c.redis.url, "FLUSHALL"]);
      expect(out.stdout.toString().trim()).toBe("OK");
    },
    "all",
  );
}, 180_000);
