// The cluster end to end with real processes: api + 2 masters + 1 worker on Postgres and Redis.
// A workflow posted to the api runs to SUCCESS on the worker, and so does one sent by the CLI
// (`porpoise run <file> --server <api> --wait`); after kill -9 of a master, the other
// takes its slots over and runs what was submitted meanwhile. A failed run's alert is delivered by
// a master's delivery loop to a webhook, with the log tail the worker shipped.

import { expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, instanceEnded, startCluster } from "./cluster-harness.ts";
import { cleanEnv, fromSource, run as runCli } from "../integration/cli-process.ts";
import { waitFor } from "../helpers/wait.ts";
import { httpReceiver } from "../helpers/alert-receivers.ts";

const WORKFLOW = `
name: hello
tasks:
  - { name: a, type: shell, script: "echo a" }
  - { name: b, type: python, deps: [a], script: "print('b')" }
  - { name: c, type: shell, deps: [b], script: "echo c" }
`;

test("a workflow runs on a cluster; a master killed -9 is replaced by the other", async () => {
  await using c = await startCluster({ prefix: "porpoise-cluster-smoke-", masters: 2, workers: 1, lease: 2 });
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  expect((await c.request("/projects/etl/workflows", { method: "POST", yaml: WORKFLOW })).status).toBe(201);
  const run = async () => ((await (await c.request("/projects/etl/workflows/hello/run", { method: "POST", json: {} })).json()) as { id: number }).id;
  const ended = (id: number) => instanceEnded(c, id);

  const ids = [await run(), await run(), await run(), await run()];
  for (const id of ids) expect((await ended(id)).state).toBe("SUCCESS");

  // The CLI through the api node: it saves the file's workflow, starts it, follows it to its end
  // (the api reads the run from the Store and the masters' snapshots) and exits 0 on SUCCESS.
  const flow = join(c.tmp, "cli-hello.yaml");
  writeFileSync(flow, WORKFLOW.replace("name: hello", "name: cli-hello"));
  const server = c.api.replace(/\/api\/v1$/, "");
  const cli = await runCli(fromSource(["run", flow, "--project", "etl", "--wait", "--server", server, "--token", ADMIN_TOKEN]), { cwd: c.tmp, env: cleanEnv(), timeoutMs: 60_000 });
  expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: "" });
  const cliRun = cli.stdout.match(/^workflow instance (\d+): cli-hello v1, project etl, on http/m);
  expect(cliRun).not.toBeNull();
  expect((await ended(Number(cliRun![1]))).state).toBe("SUCCESS");

  // The api's cluster view reads ready-queue depths from the Redis Bus: a task for a worker group
  // nobody serves waits in its queue and is shown so (then stopped).
  await c.request("/projects/etl/workflows", { method: "POST", json: { name: "gpu", tasks: [{ name: "g", type: "shell", script: "echo g", workerGroup: "gpu" }] } });
  const gpu = ((await (await c.request("/projects/etl/workflows/gpu/run", { method: "POST", json: {} })).json()) as { id: number }).id;
  type Queue = { workerGroup: string; depth: number | null; dispatched: number; served: boolean | null };
  const queues = await waitFor("the api shows the gpu task queued", async () => {
    const q = ((await (await c.request("/cluster")).json()) as { readyQueues: Queue[] }).readyQueues;
    return q.find((g) => g.workerGroup === "gpu")?.depth === 1 && q.find((g) => g.workerGroup === "default")?.served ? q : null;
  });
  expect(queues).toEqual([
    { workerGroup: "default", depth: 0, dispatched: 0, served: true },
    { workerGroup: "gpu", depth: 1, dispatched: 1, served: false },
  ]);
  expect((await c.request(`/workflow-instances/${gpu}/stop`, { method: "POST", json: {} })).status).toBe(200);
  expect((await ended(gpu)).state).toBe("STOP");

  // The worker shipped each attempt's log into the Store: the api serves it from there, with the
  // worker's files deleted (as if its machine were gone).
  const b = (await c.store.taskInstances.listForInstance(ids[0]!)).find((t) => t.taskName === "b")!;
  expect(await c.store.logChunks.size(b.id)).toBeGreaterThan(0);
  expect(b.logPath).not.toBeNull();
  rmSync(b.logPath!, { force: true });
  const log = (await (await c.request(`/task-instances/${b.id}/log?offset=0`)).json()) as { text: string };
  expect(log.text).toContain("[out] b\n");

  // Alerts from the masters' delivery loop: a failed run reaches a webhook, with the log tail the
  // worker shipped into the Store (the master's machine has no log file).
  await using hooks = httpReceiver();
  const post = async (path: string, json: unknown) => expect((await c.request(path, { method: "POST", json })).status).toBe(201);
  await post("/projects/etl/workflows", { name: "broken", tasks: [{ name: "x", type: "shell", script: "echo cluster-alert-canary; exit 2" }] });
  await post("/projects/etl/alert-channels", { name: "hook", type: "webhook", secrets: { url: `${hooks.url}/hook` } });
  await post("/projects/etl/alert-groups", { name: "ops", channels: ["hook"] });
  await post("/projects/etl/alert-policies", { workflow: "broken", group: "ops", events: ["failure"] });
  const broken = ((await (await c.request("/projects/etl/workflows/broken/run", { method: "POST", json: {} })).json()) as { id: number }).id;
  expect((await ended(broken)).state).toBe("FAILURE");
  await waitFor("the alert from a master", async () => hooks.on("/hook").length >= 1, 30_000);
  expect(hooks.on("/hook")[0]!.json).toMatchObject({ workflowInstanceId: broken, state: "FAILURE", failedTasks: [{ name: "x" }] });
  expect(hooks.on("/hook")[0]!.json.failedTasks[0].logTail).toContain("cluster-alert-canary");

  c.masters[0]!.signal("SIGKILL");
  const after = [await run(), await run(), await run(), await run()];
  const t0 = Date.now();
  for (const id of after) expect((await ended(id)).state).toBe("SUCCESS");
  console.log(`after kill -9 of m1: 4 runs ended SUCCESS within ${Date.now() - t0} ms (lease 2 s)`);
  const leases = await c.store.cluster.slotLeases();
  expect(new Set(leases.map((l) => l.owner))).toEqual(new Set(["m2"]));
});
