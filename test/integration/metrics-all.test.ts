// GET /metrics and the JSON logs of a real `porpoise all` process (SQLite): every documented
// metric is exposed with a HELP line, figures move as runs, schedules and requests happen, the
// label sets stay bounded however many runs there are, and log lines carry fields.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiClient, createApiClient } from "../../src/cli/client.ts";
import { isTerminalWorkflowState, type WorkflowState } from "../../src/core/states.ts";
import type { WorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { parsePrometheus, type Scrape, scrape } from "../helpers/prometheus.ts";
import { cleanEnv, fromSource, type Spawned, spawn } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-metrics-all-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);

const READY = /porpoise all ready on (http:\/\/127\.0\.0\.1:\d+)/;
const TOKEN = "metrics-all-token-0123456789abcdefghijkl";

/** Every metric `all` exposes (README "### Metrics" lists them with their labels). */
export const ALL_METRICS = [
  "porpoise_build_info",
  "porpoise_process_start_time_seconds",
  "porpoise_process_resident_memory_bytes",
  "porpoise_schedule_fires_total",
  "porpoise_schedule_delay_seconds",
  "porpoise_schedule_misfires_total",
  "porpoise_schedules_loaded",
  "porpoise_workflow_runs_total",
  "porpoise_workflow_active_runs",
  "porpoise_workflow_run_duration_seconds",
  "porpoise_task_runs_total",
  "porpoise_task_queue_wait_seconds",
  "porpoise_task_duration_seconds",
  "porpoise_ready_queue_depth",
  "porpoise_tasks_waiting_unserved",
  "porpoise_dispatch_results_total",
  "porpoise_task_events_refused_total",
  "porpoise_bus_messages_dropped_total",
  "porpoise_worker_running_tasks",
  "porpoise_worker_slots",
  "porpoise_http_requests_total",
  "porpoise_http_request_duration_seconds",
  "porpoise_store_errors_total",
  "porpoise_store_statements_in_flight",
  "porpoise_store_pool_size",
  "porpoise_store_pool_renewals_total",
  "porpoise_cluster_slots_owned",
  "porpoise_cluster_slot_leases_lost_total",
  "porpoise_retention_removed_total",
  "porpoise_alerts_sent_total",
];

let p: Spawned;
let url: string;
let api: ApiClient;

beforeAll(async () => {
  p = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "data"), "--log-format", "json", "--access-log", "--worker-slots", "2"]), {
    cwd: tmp,
    env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN }),
  });
  url = (await p.waitFor(READY))[1] as string;
  api = createApiClient({ baseUrl: url, token: TOKEN });
  await api.createProject("default");
  await api.createWorkflow("default", { name: "ok", tasks: [{ name: "a", type: "shell", script: "echo hi" }, { name: "b", type: "noop", deps: ["a"] }] } as unknown as WorkflowDefinition);
  await api.createWorkflow("default", { name: "bad", tasks: [{ name: "fails", type: "shell", script: "exit 3" }] } as unknown as WorkflowDefinition);
}, 30_000);

afterAll(async () => {
  await p?.[Symbol.asyncDispose]();
  rmSync(tmp, { recursive: true, force: true });
});

async function runToEnd(workflow: string): Promise<{ id: number; state: string }> {
  const { id } = await api.run("default", workflow, {});
  for (;;) {
    const view = await api.instance(id);
    if (isTerminalWorkflowState(view.state as WorkflowState)) return { id, state: view.state };
    await Bun.sleep(20);
  }
}

const metrics = () => scrape(`${url}/metrics`);

/** Samples of every metric except the process's own figures, which move by themselves. */
function figures(s: Scrape): Scrape {
  return parsePrometheus(
    s.samples
      .filter((x) => !x.name.startsWith("porpoise_process_") && !x.name.startsWith("porpoise_http_"))
      .map((x) => `${x.name}{${Object.entries(x.labels).map(([k, v]) => `${k}="${v}"`).join(",")}} ${x.value}`)
      .join("\n"),
  );
}

describe("GET /metrics of porpoise all", () => {
  test("every metric is exposed with a HELP line a user can read, in Prometheus text format", async () => {
    const s = await metrics();
    for (const name of ALL_METRICS) {
      expect({ name, help: (s.help.get(name) ?? "").length >= 20 }).toEqual({ name, help: true });
      expect(s.types.has(name)).toBe(true);
    }
    for (const name of s.help.keys()) expect(name).toStartWith("porpoise_");
    for (const [name, type] of s.types) if (type === "counter") expect(name).toEndWith("_total");
    expect(s.value("porpoise_build_info", { mode: "all" })).toBe(1);
    expect(s.value("porpoise_worker_slots")).toBe(2);
    expect(s.value("porpoise_cluster_slots_owned")).toBe(64);
    expect(s.value("porpoise_store_pool_size")).toBe(1);
  });

  test("workflow and task figures move as runs happen: states by type, durations, queue waits, dispatch results", async () => {
    const before = await metrics();
    expect((await runToEnd("ok")).state).toBe("SUCCESS");
    expect((await runToEnd("ok")).state).toBe("SUCCESS");
    expect((await runToEnd("bad")).state).toBe("FAILURE");
    const after = await metrics();
    const grew = (name: string, labels: Record<string, string> = {}) => after.sum(name, labels) - before.sum(name, labels);

    expect(grew("porpoise_workflow_runs_total", { state: "RUNNING_EXECUTION" })).toBe(3);
    expect(grew("porpoise_workflow_runs_total", { state: "SUCCESS" })).toBe(2);
    expect(grew("porpoise_workflow_runs_total", { state: "FAILURE" })).toBe(1);
    expect(grew("porpoise_workflow_run_duration_seconds_count", { state: "SUCCESS" })).toBe(2);
    expect(grew("porpoise_workflow_run_duration_seconds_count", { state: "FAILURE" })).toBe(1);
    expect(grew("porpoise_workflow_run_duration_seconds_sum", { state: "SUCCESS" })).toBeGreaterThan(0);
    expect(after.value("porpoise_workflow_active_runs")).toBe(0);

    expect(grew("porpoise_task_runs_total", { type: "shell", state: "DISPATCH" })).toBe(3);
    expect(grew("porpoise_task_runs_total", { type: "shell", state: "RUNNING_EXECUTION" })).toBe(3);
    expect(grew("porpoise_task_runs_total", { type: "shell", state: "SUCCESS" })).toBe(2);
    expect(grew("porpoise_task_runs_total", { type: "shell", state: "FAILURE" })).toBe(1);
    expect(grew("porpoise_task_runs_total", { type: "noop", state: "SUCCESS" })).toBe(2);

    // Worker side: 5 tasks claimed and started, each with a queue wait and a run time by type and result.
    expect(grew("porpoise_dispatch_results_total", { result: "started" })).toBe(5);
    expect(grew("porpoise_dispatch_results_total", { result: "no_matching_row" })).toBe(0);
    expect(grew("porpoise_task_queue_wait_seconds_count", { worker_group: "default" })).toBe(5);
    expect(grew("porpoise_task_duration_seconds_count", { type: "shell", state: "SUCCESS" })).toBe(2);
    expect(grew("porpoise_task_duration_seconds_count", { type: "shell", state: "FAILURE" })).toBe(1);
    expect(grew("porpoise_task_duration_seconds_count", { type: "noop", state: "SUCCESS" })).toBe(2);
    expect(grew("porpoise_task_duration_seconds_sum", { type: "shell", state: "SUCCESS" })).toBeGreaterThan(0);
    // Histogram buckets are cumulative and end at +Inf = count.
    const buckets = after.samples.filter((x) => x.name === "porpoise_task_duration_seconds_bucket" && x.labels.type === "shell" && x.labels.state === "SUCCESS");
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)).toMatchObject({ labels: { le: "+Inf" }, value: after.value("porpoise_task_duration_seconds_count", { type: "shell", state: "SUCCESS" }) });
    expect(after.value("porpoise_worker_running_tasks")).toBe(0);
    expect(after.value("porpoise_ready_queue_depth", { worker_group: "default" })).toBe(0);

    // HTTP by route template and code: the runs' and polls' ids never become label values.
    expect(grew("porpoise_http_requests_total", { method: "POST", route: "/api/v1/projects/:project/workflows/:name/run", code: "201" })).toBe(3);
    expect(grew("porpoise_http_requests_total", { method: "GET", route: "/api/v1/workflow-instances/:id", code: "200" })).toBeGreaterThanOrEqual(3);
    expect(grew("porpoise_http_request_duration_seconds_count", { method: "GET", route: "/api/v1/workflow-instances/:id" })).toBeGreaterThanOrEqual(3);
    for (const x of after.samples.filter((x) => x.name.startsWith("porpoise_http_"))) expect(x.labels.route ?? "").not.toMatch(/\/\d+|\/default\b|\/ok\b/);
    // (A GET of an unknown path is the web UI's: route="/*".)
    const unmatched = await fetch(`${url}/no/such/path/4711`, { method: "POST" });
    expect(unmatched.status).toBe(404);
    expect((await metrics()).value("porpoise_http_requests_total", { method: "POST", route: "unmatched", code: "404" })).toBeGreaterThanOrEqual(1);
    // A wrong method on a path the API serves (405), and a page of the web UI.
    expect((await fetch(`${url}/api/v1/projects`, { method: "PATCH" })).status).toBe(405);
    const page = await fetch(`${url}/some/ui/page`);
    await page.arrayBuffer();
    const s = await metrics();
    expect(s.value("porpoise_http_requests_total", { method: "PATCH", route: "unmatched", code: "405" })).toBe(1);
    expect(s.value("porpoise_http_requests_total", { method: "GET", route: "/*", code: String(page.status) })).toBeGreaterThanOrEqual(page.status < 400 ? 1 : 0);
  }, 60_000);

  test("a schedule's fires are counted with their delay (actual − planned fire time)", async () => {
    const before = await metrics();
    const endTime = new Date(Date.now() + 2500).toISOString();
    const res = await fetch(`${url}/api/v1/projects/default/workflows/ok/schedules`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ cron: "* * * * * ?", endTime, releaseState: "ONLINE" }),
    });
    expect(res.status).toBe(201);
    const scheduleId = ((await res.json()) as { id: number }).id;
    let after = before;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await Bun.sleep(100)) {
      after = await metrics();
      if (after.value("porpoise_schedule_fires_total", { outcome: "created" }) - before.value("porpoise_schedule_fires_total", { outcome: "created" }) >= 1) break;
    }
    const fired = after.value("porpoise_schedule_fires_total", { outcome: "created" }) - before.value("porpoise_schedule_fires_total", { outcome: "created" });
    expect(fired).toBeGreaterThanOrEqual(1);
    expect(after.value("porpoise_schedule_delay_seconds_count") - before.value("porpoise_schedule_delay_seconds_count")).toBe(fired);
    // A fire is created within seconds of its planned time on an idle machine: the +Inf bucket is not the only one that grew.
    expect(after.value("porpoise_schedule_delay_seconds_bucket", { le: "60" }) - before.value("porpoise_schedule_delay_seconds_bucket", { le: "60" })).toBe(fired);
    expect(after.value("porpoise_schedule_misfires_total", { reason: "catchup_policy" })).toBe(0);
    // Offline, and its runs ended: the next test counts only its own runs.
    const off = await fetch(`${url}/api/v1/projects/default/schedules/${scheduleId}/release`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ state: "OFFLINE" }),
    });
    expect(off.status).toBe(200);
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await Bun.sleep(50)) {
      const s = await metrics();
      if (s.value("porpoise_schedules_loaded") === 0 && s.value("porpoise_workflow_active_runs") === 0) break;
    }
  }, 30_000);

  test("label sets are bounded: more runs change values, never the set of series", async () => {
    // Warm: one of each request kind the loop below makes.
    await runToEnd("ok");
    const before = figures(await metrics());
    for (let i = 0; i < 5; i++) expect((await runToEnd("ok")).state).toBe("SUCCESS");
    const after = figures(await metrics());
    expect([...after.series()].filter((s) => !before.series().has(s))).toEqual([]);
    expect(after.value("porpoise_workflow_runs_total", { state: "SUCCESS" }) - before.value("porpoise_workflow_runs_total", { state: "SUCCESS" })).toBe(5);
    // No label carries an instance or task id, and no per-workflow label without --metrics-workflow-labels.
    for (const x of after.samples) {
      expect(Object.keys(x.labels)).not.toContain("workflow");
      expect(Object.keys(x.labels)).not.toContain("project");
      for (const [k, v] of Object.entries(x.labels)) if (k !== "le") expect(v).not.toMatch(/^\d+$/);
    }
  }, 60_000);

  test("logs in JSON carry fields: instance id, project, workflow, state, task instance id; the access log names route and status", async () => {
    const { id } = await runToEnd("bad");
    const lines = p
      .stderr()
      .split("\n")
      .filter((l) => l.trim() !== "");
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of parsed) expect(typeof l.time === "string" && typeof l.level === "string" && typeof l.msg === "string").toBe(true);
    const ofRun = parsed.filter((l) => l.workflowInstanceId === id);
    expect(ofRun.find((l) => l.msg === `workflow instance ${id} started`)).toMatchObject({ project: "default", workflow: "bad", state: "RUNNING_EXECUTION" });
    expect(ofRun.find((l) => l.msg === `workflow instance ${id} ended FAILURE`)).toMatchObject({ project: "default", workflow: "bad", state: "FAILURE" });
    const taskLine = ofRun.find((l) => l.task === "fails");
    expect(taskLine).toMatchObject({ project: "default", workflow: "bad", state: "FAILURE", attempt: 1 });
    expect(typeof taskLine?.taskInstanceId).toBe("number");
    const access = parsed.filter((l) => l.msg === "http request");
    expect(access.find((l) => l.path === "/api/v1/projects/default/workflows/bad/run")).toMatchObject({ method: "POST", route: "/api/v1/projects/:project/workflows/:name/run", status: 201, client: "127.0.0.1" });
    expect(access.find((l) => l.status === 404 && l.path === "/no/such/path/4711")).toMatchObject({ route: "unmatched", method: "POST" });
    // The preset admin token is never printed, in any line.
    expect(p.stdout() + p.stderr()).not.toContain(TOKEN);
  }, 30_000);
});
