// /metrics, /healthz and /readyz of real cluster nodes (api + master + worker on a throwaway
// Postgres and a redis-server): the master's and worker's own listener (--metrics-port) answers,
// figures move on each node as runs happen, the cluster gauges see the live nodes, per-workflow
// labels appear only where --metrics-workflow-labels is given, and /readyz says "the store is
// unreachable" on every node while Postgres is stopped, then ready again.

import { expect, test } from "bun:test";
import { restartablePostgres } from "../faults/restartable-postgres.ts";
import { type Scrape, scrape } from "../helpers/prometheus.ts";
import { waitFor } from "../helpers/wait.ts";
import { instanceEnded, startCluster } from "./cluster-harness.ts";

const WORKFLOW = `
name: hello
tasks:
  - { name: a, type: shell, script: "echo a" }
  - { name: b, type: python, deps: [a], script: "print('b')" }
`;

const LISTENER = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/;

test("cluster nodes: /metrics move as runs happen, cluster gauges, /readyz through a Postgres outage", async () => {
  await using pg = await restartablePostgres();
  await using c = await startCluster({ prefix: "porpoise-metrics-cluster-", masters: 1, workers: 1, lease: 2, dbUrl: pg.url, args: { master: ["--metrics-workflow-labels"] }, env: { PORPOISE_LOG_FORMAT: "json" } });
  const master = (await c.masters[0]!.proc.waitFor(LISTENER))[1] as string;
  const worker = (await c.workers[0]!.proc.waitFor(LISTENER))[1] as string;
  const api = c.api.replace(/\/api\/v1$/, "");
  for (const base of [master, worker]) {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  }

  const before = { master: await scrape(`${master}/metrics`), worker: await scrape(`${worker}/metrics`), api: await scrape(`${api}/metrics`) };
  expect(before.master.value("porpoise_build_info", { mode: "master" })).toBe(1);
  expect(before.worker.value("porpoise_build_info", { mode: "worker" })).toBe(1);
  expect(before.api.value("porpoise_build_info", { mode: "api" })).toBe(1);

  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  expect((await c.request("/projects/etl/workflows", { method: "POST", yaml: WORKFLOW })).status).toBe(201);
  const ids: number[] = [];
  for (let i = 0; i < 2; i++) ids.push(((await (await c.request("/projects/etl/workflows/hello/run", { method: "POST", json: {} })).json()) as { id: number }).id);
  for (const id of ids) {
    const ended = await instanceEnded(c, id);
    expect(ended.state).toBe("SUCCESS");
  }

  const after = { master: await scrape(`${master}/metrics`), worker: await scrape(`${worker}/metrics`), api: await scrape(`${api}/metrics`) };
  const grew = (node: keyof typeof after, name: string, labels: Record<string, string> = {}) => after[node].sum(name, labels) - before[node].sum(name, labels);
  // The master recorded the state changes, with per-workflow labels (only it was given the flag).
  expect(grew("master", "porpoise_task_runs_total", { type: "shell", state: "SUCCESS" })).toBe(2);
  expect(grew("master", "porpoise_task_runs_total", { type: "python", state: "SUCCESS" })).toBe(2);
  expect(grew("master", "porpoise_workflow_runs_total", { state: "SUCCESS", project: "etl", workflow: "hello" })).toBe(2);
  expect(grew("master", "porpoise_workflow_run_duration_seconds_count", { state: "SUCCESS", project: "etl", workflow: "hello" })).toBe(2);
  expect(after.master.value("porpoise_workflow_active_runs")).toBe(0);
  // The worker ran them: claims, queue waits, run times.
  expect(grew("worker", "porpoise_dispatch_results_total", { result: "started" })).toBe(4);
  expect(grew("worker", "porpoise_task_queue_wait_seconds_count", { worker_group: "default" })).toBe(4);
  expect(grew("worker", "porpoise_task_duration_seconds_count", { type: "python", state: "SUCCESS" })).toBe(2);
  expect(after.worker.value("porpoise_worker_slots")).toBe(4);
  // The api counted the requests by route template.
  expect(grew("api", "porpoise_http_requests_total", { method: "POST", route: "/api/v1/projects/:project/workflows/:name/run", code: "201" })).toBe(2);
  // JSON lines of a cluster node name it; a run's lines carry its ids.
  const masterLines = c.masters[0]!.proc
    .stderr()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const l of masterLines) expect(l.node).toBe("m1");
  expect(masterLines.find((l) => l.msg === `workflow instance ${ids[0]} ended SUCCESS`)).toMatchObject({ workflowInstanceId: ids[0], project: "etl", workflow: "hello", state: "SUCCESS", component: "master" });
  // No series of the api or worker carries a workflow label: the flag is per node.
  for (const s of [after.api, after.worker]) for (const x of s.samples) expect(x.labels.workflow).toBeUndefined();

  // The cluster as the registry shows it: every slot owned, the worker's heartbeat fresh.
  // (The registry rows follow the slots at each lease tick: wait for the masters' to show them all.)
  for (const base of [master, api]) {
    const s = await waitFor(`${base}: every slot owned in the registry`, async () => {
      const got = await scrape(`${base}/metrics`);
      return got.value("porpoise_cluster_slots_unowned") === 0 ? got : null;
    }, 20_000, 100);
    expectClusterHealthy(s, "w1");
  }
  expect(after.master.value("porpoise_cluster_slots_owned")).toBeGreaterThan(0);
  expect(after.master.value("porpoise_store_pool_size")).toBe(10);
  expect(after.master.samples.some((x) => x.name === "porpoise_ready_queue_depth" && x.labels.worker_group === "default")).toBe(true);

  // Postgres stops: every node's /readyz says why, promptly; it comes back, they are ready again.
  await pg.stopFast();
  for (const base of [master, worker, api]) {
    const body = await waitFor(`${base}/readyz 503`, async () => {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
      return res.status === 503 ? ((await res.json()) as { error: { code: string; message: string; details: { path: string; message: string }[] } }) : null;
    }, 20_000, 50);
    expect(body.error.code).toBe("NOT_READY");
    expect(body.error.details).toContainEqual({ path: "store", message: expect.stringMatching(/the store is unreachable|did not answer/) });
  }
  await pg.start();
  for (const base of [master, worker, api]) await waitFor(`${base}/readyz 200 again`, async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 100);
  const outage = { master: await scrape(`${master}/metrics`), worker: await scrape(`${worker}/metrics`) };
  expect(outage.master.sum("porpoise_store_errors_total", { kind: "unreachable" }) + outage.worker.sum("porpoise_store_errors_total", { kind: "unreachable" })).toBeGreaterThan(0);
}, 120_000);

function expectClusterHealthy(s: Scrape, workerId: string): void {
  expect(s.value("porpoise_cluster_slots_unowned")).toBe(0);
  const age = s.samples.find((x) => x.name === "porpoise_cluster_worker_heartbeat_age_seconds" && x.labels.node === workerId);
  expect(age).toBeDefined();
  expect(age!.value).toBeGreaterThanOrEqual(0);
  // Lease 2 s: a live worker beats three times per lease (counted dead past 1.5 leases).
  expect(age!.value).toBeLessThan(4);
}
