// 200 edge workers long-polling one api node (issue 13): lightweight clients in this process
// speak the edge protocol (register, poll held by the gateway, report running + done, ack)
// against one real `porpoise all`. Their tasks dispatch across the fleet and all succeed, and
// while the 200 polls are held the api answers other requests. Latencies are printed, not asserted.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { edgeEnv, type EdgeEnv, waitFor } from "./edge-harness.ts";

const CLIENTS = 200;
const INSTANCES = 50;
const TASKS = ["a", "b", "c", "d"];

let e: EdgeEnv;
beforeAll(async () => {
  e = await edgeEnv("porpoise-edge-load-", { lease: "10s" });
}, 60_000);
afterAll(async () => {
  await e?.[Symbol.asyncDispose]();
});

interface Job {
  ready: { taskInstanceId: number; workflowInstanceId: number; slot: number; epoch: number; attempt: number; token: string };
}

test(`${CLIENTS} edge workers long-poll one api node: their tasks dispatch and the api stays responsive`, async () => {
  const { token } = await e.workerToken(["fleet"]);
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${e.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const stop = new AbortController();
  const ran = new Map<string, number>();
  const client = async (i: number) => {
    const workerId = `fleet-${i}`;
    const { session } = (await call("/edge/v1/register", { protocol: 1, workerId, version: "0.1.0", arch: "x64", platform: "linux", host: "test", groups: ["fleet"], slots: 1 })) as { session: string };
    while (!stop.signal.aborted) {
      const { jobs } = (await call("/edge/v1/poll", { session, capacity: 1, groups: ["fleet"], waitMs: stop.signal.aborted ? 0 : 25_000 }).catch(() => ({ jobs: [] }))) as { jobs: Job[] };
      for (const j of jobs) {
        const ref = { taskInstanceId: j.ready.taskInstanceId, workflowInstanceId: j.ready.workflowInstanceId, slot: j.ready.slot, epoch: j.ready.epoch, attempt: j.ready.attempt, token: j.ready.token };
        const now = new Date().toISOString();
        await call("/edge/v1/events", { session, events: [{ kind: "running", ...ref, host: workerId, logPath: null, startTime: now }, { kind: "done", ...ref, state: "SUCCESS", exitCode: 0, output: {}, message: null, endTime: now }] });
        await call("/edge/v1/ack", { session, tasks: [j.ready] });
        ran.set(workerId, (ran.get(workerId) ?? 0) + 1);
      }
    }
  };
  const fleet = Array.from({ length: CLIENTS }, (_, i) => client(i));
  const gateway = async () => ((await (await fetch(`${e.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${e.userToken}` } })).json()) as { edgeGateway: { sessions: number; accepted: number } }).edgeGateway;
  await waitFor(`${CLIENTS} sessions`, async () => (await gateway()).sessions >= CLIENTS, 60_000, 100);

  // With every poll held: the api answers.
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const res = await fetch(`${e.url}/api/v1/projects`, { headers: { authorization: `Bearer ${e.userToken}` } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    latencies.push(performance.now() - t);
  }

  await e.workflow("fleet", TASKS.map((name) => ({ name, type: "shell", workerGroup: "fleet", script: "true" })));
  const started = performance.now();
  const ids: number[] = [];
  for (let i = 0; i < INSTANCES; i++) ids.push(await e.run("fleet"));
  for (const id of ids) expect(await e.ended(id, 60_000)).toBe("SUCCESS");
  const seconds = (performance.now() - started) / 1000;
  const total = INSTANCES * TASKS.length;
  const tasks = (await Promise.all(ids.map((id) => e.store.taskInstances.listForInstance(id)))).flat();
  expect(tasks.length).toBe(total);
  expect(tasks.every((t) => t.state === "SUCCESS" && t.attempt === 1 && t.host?.startsWith("edge:fleet-"))).toBe(true);
  // Spread over the fleet, not one client.
  expect(new Set(tasks.map((t) => t.host)).size).toBeGreaterThan(CLIENTS / 4);
  latencies.sort((a, b) => a - b);
  console.log(
    `edge load: ${CLIENTS} held polls; GET /api/v1/projects p50 ${latencies[10]!.toFixed(1)} ms, max ${latencies[19]!.toFixed(1)} ms; ` +
      `${total} tasks on ${new Set(tasks.map((t) => t.host)).size} clients in ${seconds.toFixed(2)} s (${(total / seconds).toFixed(0)} tasks/s through one gateway)`,
  );
  stop.abort();
  // Held polls end with the server (disposed after the test).
  void Promise.allSettled(fleet);
}, 120_000);
