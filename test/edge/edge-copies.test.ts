// A copy of an edge attempt that an edge worker already started is not handed to a second one
// (src/api/edge/gateway.ts startedHere). A master offers a DISPATCH attempt again after a takeover,
// a reload or a Redis flush; when the first worker's "running" is still unrecorded the Store says
// DISPATCH, and the gateway's row check alone handed the copy out: two executions. Here: api +
// 1 master on Postgres and Redis, two edge workers. The first starts the task (a sleep, then a
// ledger line) while the master is frozen (SIGSTOP), so its "running" waits in the slot's stream
// unrecorded; the test enqueues copies of the same dispatch, signed with the cluster secret as a
// master's would be (one for the first worker, should the freeze have come before the master's
// own enqueue, and one more), and starts the second, idle edge worker. The copy is dropped; the task runs
// once, and the run ends SUCCESS with one attempt once the master runs again.

import { expect, test } from "bun:test";
import { join } from "node:path";
import Redis from "ioredis";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { createLogger } from "../../src/core/log.ts";
import { CLUSTER_SECRET, instanceEnded, startCluster } from "../cluster/cluster-harness.ts";
import { createLedger } from "../helpers/ledger.ts";
import { waitFor } from "../helpers/wait.ts";
import { cleanEnv, fromSource, spawn } from "../integration/cli-process.ts";

const log = createLogger({ level: "error", format: "text" });

test("a copy of a dispatch an edge worker started is dropped by the gateway, not run by a second edge worker", async () => {
  await using ledger = await createLedger();
  await using c = await startCluster({ prefix: "porpoise-edge-copies-", masters: 1, workers: 0, lease: 2 });
  const minted = await c.request("/worker-tokens", { method: "POST", json: { name: "edge", groups: ["edge"] } });
  expect(minted.status).toBe(201);
  const { token } = (await minted.json()) as { token: string };
  const gateway = c.api.replace(/\/api\/v1$/, "");
  const edgeWorker = (name: string) =>
    spawn(fromSource(["worker", "--gateway", gateway, "--token", token, "--worker-groups", "edge", "--worker-slots", "1", "--data-dir", join(c.tmp, name), "--metrics-port", "0"]), { cwd: c.tmp, env: cleanEnv() });
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  const def = { name: "once", tasks: [{ name: "a", type: "shell", workerGroup: "edge", script: ledger.task("sleep 4") }] };
  expect((await c.request("/projects/etl/workflows", { method: "POST", yaml: JSON.stringify(def) })).status).toBe(201);
  const bus = new RedisBus({ url: c.redis.url, secret: CLUSTER_SECRET, log });
  const admin = new Redis(c.redis.url);
  await using first = edgeWorker("edge-1");
  await first.waitFor(/edge worker \S+ ready/, 30_000);
  const master = c.masters[0]!.proc;
  try {
    const { id } = (await (await c.request("/projects/etl/workflows/once/run", { method: "POST", json: {} })).json()) as { id: number };
    // Frozen as soon as the dispatch is committed: the edge worker's "running" is not recorded.
    const row = await waitFor("task a dispatched", async () => (await c.store.taskInstances.listForInstance(id)).find((t) => t.taskName === "a" && t.state === "DISPATCH") ?? null, 30_000, 2);
    master.signal("SIGSTOP");
    // Frozen maybe before its own enqueue went out: the test offers the dispatch itself.
    const copy = { taskInstanceId: row.id, workflowInstanceId: id, slot: row.slot, epoch: row.epoch, attempt: row.attempt, token: row.dispatchToken!, instancePriority: 2 as const, priority: 2 as const, workerGroup: "edge", enqueuedAt: Date.now() };
    await bus.enqueue("edge", copy);
    // The first edge worker's "running", through the gateway into the slot's stream, unread.
    const stream = `porpoise:ev:${row.slot}`;
    const kinds = async () => ((await admin.xrange(stream, "-", "+")) as [string, string[]][]).map(([, f]) => (JSON.parse((JSON.parse(f[1]!) as { body: string }).body) as { kind: string }).kind);
    await waitFor("the first edge worker's running event in the slot's stream", async () => (await kinds()).includes("running"), 15_000);
    // The precondition: the Store still says DISPATCH.
    expect((await c.store.taskInstances.get(row.id))?.state).toBe("DISPATCH");
    // A copy offered again, as a master taking the slot over would; the first worker is busy (1 slot).
    await bus.enqueue("edge", { ...copy, enqueuedAt: Date.now() });
    await using second = edgeWorker("edge-2");
    await second.waitFor(/edge worker \S+ ready/, 30_000);
    const dropLine = `dropped a copy of task instance ${row.id} attempt ${row.attempt}`;
    const apiOutput = () => c.apiNode.proc.stdout() + c.apiNode.proc.stderr();
    // Not thrown here: without the check the second worker runs the copy, and the ledger below says so.
    await waitFor("the gateway dropped the copy", async () => apiOutput().includes(dropLine), 15_000).catch(() => {});
    master.signal("SIGCONT");
    const ended = await instanceEnded(c, id, 60_000);
    expect(ended.state).toBe("SUCCESS");
    expect((await c.store.taskInstances.listForInstance(id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([["a", 1, "SUCCESS"]]);
    // Both workers' tasks would have ended by now (4 s each, started before the run could end).
    const report = await ledger.read();
    expect(report.duplicates).toEqual([]);
    expect(report.rows.length).toBe(1);
    expect(apiOutput()).toContain(dropLine);
  } finally {
    master.signal("SIGCONT");
    admin.disconnect();
    await bus.close();
  }
}, 120_000);
