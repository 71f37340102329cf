// Edge workers (issue 13) against one real `porpoise all` on SQLite (no Redis): an edge worker
// process from source registers with the gateway and runs a shell and a python task of its group
// to SUCCESS with their logs in the Store; the cluster API lists it. One server for the file.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { dataDir, edgeEnv, type EdgeEnv, waitFor } from "./edge-harness.ts";

let e: EdgeEnv;
beforeAll(async () => {
  // Lease 2 s (edge lease 6 s): short enough for quick tests, long enough not to fence a worker on a loaded CI box.
  e = await edgeEnv("porpoise-edge-", { lease: "2s" });
}, 60_000);
afterAll(async () => {
  await e?.[Symbol.asyncDispose]();
});

test("an edge worker runs a shell and a python task of its group to SUCCESS, with their logs", async () => {
  const { token } = await e.workerToken(["edge"]);
  const w = e.worker({ token, groups: ["edge"], dataDir: dataDir(e, "w1") });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  await e.workflow("hello", [
    { name: "sh", type: "shell", workerGroup: "edge", script: "echo hello from $(uname -m)" },
    { name: "py", type: "python", workerGroup: "edge", deps: ["sh"], script: "import platform\nprint('python on', platform.machine())" },
  ]);
  const id = await e.run("hello");
  expect(await e.ended(id)).toBe("SUCCESS");
  const tasks = await e.store.taskInstances.listForInstance(id);
  expect(tasks.map((t) => [t.taskName, t.state, t.attempt])).toEqual([["py", "SUCCESS", 1], ["sh", "SUCCESS", 1]]);
  for (const t of tasks) expect(t.host).toMatch(/^edge:/);
  const sh = tasks.find((t) => t.taskName === "sh")!;
  const py = tasks.find((t) => t.taskName === "py")!;
  expect(await e.log(sh.id)).toContain("hello from");
  expect(await e.log(py.id)).toContain("python on");
  const cluster = await (await fetch(`${e.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${e.userToken}` } })).json();
  const edge = (cluster as { edgeWorkers: { id: string; groups: string[]; arch: string; version: string; heartbeatAgeMs: number }[] }).edgeWorkers;
  expect(edge.length).toBe(1);
  expect(edge[0]!.groups).toEqual(["edge"]);
  expect(edge[0]!.arch).toBe(process.arch);
  // The edge worker's group counts as served: no "no worker serves" note on its tasks.
  expect(e.server.stdout() + e.server.stderr()).not.toContain('no worker serves worker group "edge"');
  await waitFor("the worker to stop", async () => {
    w.signal("SIGTERM");
    return (await w.exit(20_000)) === 0;
  });
}, 90_000);

const post = async (path: string, token: string, body: unknown) => {
  const res = await fetch(`${e.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string; details: { path: string; message: string }[] } } & Record<string, unknown> };
};
const registration = (over: Record<string, unknown> = {}) => ({ protocol: 1, workerId: "fake-1", version: "0.1.0", arch: "x64", platform: "linux", host: "h", groups: ["a"], slots: 1, ...over });

test("register refuses another version, architecture or groups with a machine-readable code naming the field", async () => {
  const { token } = await e.workerToken(["a"]);
  const version = await post("/edge/v1/register", token, registration({ version: "9.9.0" }));
  expect(version.status).toBe(409);
  expect(version.json.error).toMatchObject({ code: "EDGE_VERSION_MISMATCH", details: [{ path: "version" }] });
  const arch = await post("/edge/v1/register", token, registration({ arch: "riscv64" }));
  expect(arch.status).toBe(409);
  expect(arch.json.error).toMatchObject({ code: "EDGE_ARCH_UNSUPPORTED", details: [{ path: "arch" }] });
  const groups = await post("/edge/v1/register", token, registration({ groups: ["a", "b"] }));
  expect(groups.status).toBe(403);
  expect(groups.json.error).toMatchObject({ code: "EDGE_GROUPS_NOT_ALLOWED", details: [{ path: "groups" }] });
  const bad = await post("/edge/v1/register", token, registration({ slots: 0, workerId: "no spaces" }));
  expect(bad.status).toBe(400);
  expect(bad.json.error!.details.map((d) => d.path).sort()).toEqual(["slots", "workerId"]);
  const ok = await post("/edge/v1/register", token, registration());
  expect(ok.status).toBe(200);
  expect(typeof ok.json.session).toBe("string");
  // A second register of the same worker id takes over: the old session is gone.
  const again = await post("/edge/v1/register", token, registration());
  const stale = await post("/edge/v1/heartbeat", token, { session: ok.json.session, running: [] });
  expect(stale.status).toBe(401);
  expect(stale.json.error!.code).toBe("EDGE_SESSION_UNKNOWN");
  expect((await post("/edge/v1/heartbeat", token, { session: again.json.session, running: [] })).status).toBe(200);
  const poll = await post("/edge/v1/poll", token, { session: again.json.session, capacity: 1, groups: ["b"], waitMs: 0 });
  expect(poll.json.error?.code).toBe("EDGE_GROUPS_NOT_ALLOWED");
});

test("a worker token opens no user route, a user token no gateway route; a bad token ends an edge worker's start", async () => {
  const { token } = await e.workerToken(["a"]);
  for (const path of ["/api/v1/projects", "/api/v1/cluster", "/api/v1/worker-tokens", "/api/v1/tokens"]) {
    const res = await fetch(`${e.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
  }
  const asUser = await post("/edge/v1/register", e.userToken, registration());
  expect(asUser.status).toBe(401);
  const w = e.worker({ token: "pp_not-a-worker-token-at-all", groups: ["a"], dataDir: dataDir(e, "bad-token") });
  expect(await w.exit(30_000)).toBe(1);
  expect(w.stderr() + w.stdout()).toContain("unknown, revoked or expired");
});

test("forged results (wrong token, wrong attempt) are refused and counted; group A never runs group B; a revoked token gets no more work", async () => {
  const a = await e.workerToken(["a"], "group-a");
  const b = await e.workerToken(["b"], "group-b");
  const wa = e.worker({ token: a.token, groups: ["a"], dataDir: dataDir(e, "wa") });
  await wa.waitFor(/edge worker \S+ ready/, 30_000);
  await e.workflow("ab", [
    { name: "ta", type: "shell", workerGroup: "a", script: "echo a" },
    { name: "tb", type: "shell", workerGroup: "b", script: "echo b" },
  ]);
  const id = await e.run("ab");
  const tb = await waitFor("tb dispatched", async () => (await e.store.taskInstances.listForInstance(id)).find((t) => t.taskName === "tb" && t.state === "DISPATCH"));
  await waitFor("ta done", async () => (await e.store.taskInstances.listForInstance(id)).find((t) => t.taskName === "ta" && t.state === "SUCCESS"));
  // Forged: a registered fake worker of group b reports tb with a wrong token, and with a wrong attempt.
  const fake = await post("/edge/v1/register", b.token, registration({ workerId: "forger", groups: ["b"] }));
  const session = fake.json.session as string;
  const base = { kind: "done", taskInstanceId: tb.id, workflowInstanceId: id, slot: tb.slot, epoch: tb.epoch, attempt: tb.attempt, token: tb.dispatchToken, state: "SUCCESS", exitCode: 0, output: {}, message: null, endTime: new Date().toISOString() };
  const counts = async () => ((await (await fetch(`${e.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${e.userToken}` } })).json()) as { edgeGateway: { forged: number } }).edgeGateway;
  const before = (await counts()).forged;
  const wrongToken = await post("/edge/v1/events", b.token, { session, events: [{ ...base, token: "forged-token" }] });
  expect(wrongToken.status).toBe(403);
  expect(wrongToken.json.error!.code).toBe("EDGE_FORGED");
  const wrongAttempt = await post("/edge/v1/events", b.token, { session, events: [{ ...base, attempt: tb.attempt + 1 }] });
  expect(wrongAttempt.status).toBe(403);
  const wrongLog = await post("/edge/v1/logs", b.token, { session, attempt: { taskInstanceId: tb.id, workflowInstanceId: id, slot: tb.slot, epoch: tb.epoch, attempt: tb.attempt, token: "nope" }, chunks: [{ seq: 1, byteOffset: 0, data: "aGk=" }] });
  expect(wrongLog.status).toBe(403);
  expect((await counts()).forged).toBe(before + 3);
  expect((await e.store.taskInstances.get(tb.id))!.state).toBe("DISPATCH");

  // Revoke a's token: worker a gets no more work. Another a task then runs on a worker with a fresh token.
  const revoke = await fetch(`${e.url}/api/v1/worker-tokens/${a.id}`, { method: "DELETE", headers: { authorization: `Bearer ${e.userToken}` } });
  expect(revoke.status).toBe(204);
  await wa.waitFor(/poll failed \(this worker token is unknown, revoked or expired/, 30_000);
  const id2 = await e.run("ab");
  const a2 = await e.workerToken(["a"], "group-a-2");
  const wa2 = e.worker({ token: a2.token, groups: ["a"], dataDir: dataDir(e, "wa2") });
  const wb = e.worker({ token: b.token, groups: ["b"], dataDir: dataDir(e, "wb") });
  expect(await e.ended(id)).toBe("SUCCESS");
  expect(await e.ended(id2)).toBe("SUCCESS");
  const [w1, w2] = [/edge worker (\S+) ready/.exec(wa.stdout() + wa.stderr())![1], /edge worker (\S+) ready/.exec(wa2.stdout() + wa2.stderr())![1]];
  const hosts = (await e.store.taskInstances.listForInstance(id2)).map((t) => [t.taskName, t.host]);
  expect(hosts).toContainEqual(["ta", `edge:${w2}`]);
  expect(hosts).not.toContainEqual(["ta", `edge:${w1}`]);
  // Group b ran only on b's worker: never on a's.
  for (const i of [id, id2]) {
    const t = (await e.store.taskInstances.listForInstance(i)).find((x) => x.taskName === "tb")!;
    expect(t.host).toMatch(/^edge:/);
    expect([`edge:${w1}`, `edge:${w2}`]).not.toContain(t.host!);
  }
}, 90_000);

test("a stop reaches a task running on an edge worker through its heartbeat: the task is killed, the run stops", async () => {
  const { token } = await e.workerToken(["stop"]);
  const w = e.worker({ token, groups: ["stop"], dataDir: dataDir(e, "w-stop") });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  await e.workflow("long", [{ name: "t", type: "shell", workerGroup: "stop", script: "echo started; sleep 60; echo never" }]);
  const id = await e.run("long");
  const t = await waitFor("the task RUNNING", async () => (await e.store.taskInstances.listForInstance(id)).find((x) => x.state === "RUNNING_EXECUTION"), 30_000, 20);
  const res = await fetch(`${e.url}/api/v1/workflow-instances/${id}/stop`, { method: "POST", headers: { authorization: `Bearer ${e.userToken}`, "content-type": "application/json" }, body: "{}" });
  expect(res.status).toBeLessThan(300);
  expect(await e.ended(id, 30_000)).toBe("STOP");
  const ended = (await e.store.taskInstances.get(t.id))!;
  expect(ended.state).toBe("KILL");
  const log = await e.log(t.id);
  expect(log).toContain("started");
  expect(log).not.toContain("never");
}, 60_000);

test("a result sent again is taken once (duplicate); a result for an attempt that ended otherwise is refused (superseded); an oversize log chunk is refused naming the field", async () => {
  const { token } = await e.workerToken(["proto"]);
  const reg = await post("/edge/v1/register", token, registration({ workerId: "proto-1", groups: ["proto"] }));
  const session = reg.json.session as string;
  await e.workflow("proto", [{ name: "t", type: "shell", workerGroup: "proto", script: "true" }]);
  const poll = async () => {
    const r = await post("/edge/v1/poll", token, { session, capacity: 1, groups: ["proto"], waitMs: 10_000 });
    expect(r.status).toBe(200);
    const jobs = r.json.jobs as { ready: Record<string, unknown> & { taskInstanceId: number; workflowInstanceId: number; slot: number; epoch: number; attempt: number; token: string }; task: { name: string } }[];
    expect(jobs.length).toBe(1);
    expect(jobs[0]!.task.name).toBe("t");
    const { ready } = jobs[0]!;
    return { ready, ref: { taskInstanceId: ready.taskInstanceId, workflowInstanceId: ready.workflowInstanceId, slot: ready.slot, epoch: ready.epoch, attempt: ready.attempt, token: ready.token } };
  };
  const now = () => new Date().toISOString();

  // Replay: the same done twice.
  const id = await e.run("proto");
  const { ref } = await poll();
  const running = await post("/edge/v1/events", token, { session, events: [{ kind: "running", ...ref, host: "x", logPath: null, startTime: now() }] });
  expect(running.json.outcomes).toEqual(["accepted"]);
  const done = { kind: "done", ...ref, state: "SUCCESS", exitCode: 0, output: {}, message: null, endTime: now() };
  expect((await post("/edge/v1/events", token, { session, events: [done] })).json.outcomes).toEqual(["accepted"]);
  expect(await e.ended(id)).toBe("SUCCESS");
  expect((await post("/edge/v1/events", token, { session, events: [done] })).json.outcomes).toEqual(["duplicate"]);
  expect((await e.store.taskInstances.listForInstance(id)).map((t) => [t.attempt, t.state, t.host])).toEqual([[1, "SUCCESS", "edge:proto-1"]]);

  // Superseded: the run is stopped while the attempt runs; its late SUCCESS is refused.
  const id2 = await e.run("proto");
  const second = await poll();
  await post("/edge/v1/events", token, { session, events: [{ kind: "running", ...second.ref, host: "x", logPath: null, startTime: now() }] });
  await waitFor("RUNNING", async () => (await e.store.taskInstances.get(second.ref.taskInstanceId))?.state === "RUNNING_EXECUTION");
  await fetch(`${e.url}/api/v1/workflow-instances/${id2}/stop`, { method: "POST", headers: { authorization: `Bearer ${e.userToken}`, "content-type": "application/json" }, body: "{}" });
  // The kill comes back with the heartbeat; the worker reports KILL, the run stops.
  const hb = await waitFor("the kill in a heartbeat", async () => {
    const r = await post("/edge/v1/heartbeat", token, { session, running: [second.ref] });
    return (r.json.kills as unknown[]).length > 0 ? r : null;
  }, 20_000, 100);
  expect(hb.json.kills).toMatchObject([{ taskInstanceId: second.ref.taskInstanceId, attempt: second.ref.attempt }]);
  expect((await post("/edge/v1/events", token, { session, events: [{ ...done, ...second.ref, state: "KILL", exitCode: null }] })).json.outcomes).toEqual(["accepted"]);
  expect(await e.ended(id2)).toBe("STOP");
  expect((await post("/edge/v1/events", token, { session, events: [{ ...done, ...second.ref }] })).json.outcomes).toEqual(["superseded"]);
  expect((await e.store.taskInstances.get(second.ref.taskInstanceId))!.state).toBe("KILL");

  // A log chunk over 256 KiB.
  const big = Buffer.alloc(256 * 1024 + 1, 97).toString("base64");
  const oversize = await post("/edge/v1/logs", token, { session, attempt: second.ref, chunks: [{ seq: 1, byteOffset: 0, data: big }] });
  expect(oversize.status).toBe(400);
  expect(oversize.json.error!.details.map((d) => d.path)).toEqual(["chunks.0.data"]);
}, 60_000);

test("the gateway reruns the attempts of a silent edge worker, and one its live worker's heartbeats stop listing, as attempt + 1", async () => {
  const { token } = await e.workerToken(["sweep-a", "sweep-b"]);
  const register = async (workerId: string, group: string) => (await post("/edge/v1/register", token, registration({ workerId, groups: [group] }))).json.session as string;
  const silent = await register("sweeper-silent", "sweep-a");
  const forgetful = await register("sweeper-forgetful", "sweep-b");
  await e.workflow("sweep-a", [{ name: "t", type: "shell", workerGroup: "sweep-a", script: "true" }]);
  await e.workflow("sweep-b", [{ name: "t", type: "shell", workerGroup: "sweep-b", script: "true" }]);
  const start = async (session: string, workflow: string, group: string) => {
    const id = await e.run(workflow);
    const r = await post("/edge/v1/poll", token, { session, capacity: 1, groups: [group], waitMs: 10_000 });
    const ready = (r.json.jobs as { ready: { taskInstanceId: number; workflowInstanceId: number; slot: number; epoch: number; attempt: number; token: string } }[])[0]!.ready;
    const ref = { taskInstanceId: ready.taskInstanceId, workflowInstanceId: ready.workflowInstanceId, slot: ready.slot, epoch: ready.epoch, attempt: ready.attempt, token: ready.token };
    const running = await post("/edge/v1/events", token, { session, events: [{ kind: "running", ...ref, host: "x", logPath: null, startTime: new Date().toISOString() }] });
    expect(running.json.outcomes).toEqual(["accepted"]);
    return id;
  };
  const a = await start(silent, "sweep-a", "sweep-a");
  const b = await start(forgetful, "sweep-b", "sweep-b");
  // "forgetful" keeps beating but never lists its attempt; "silent" says nothing at all.
  const beats = setInterval(() => void post("/edge/v1/heartbeat", token, { session: forgetful, running: [] }), 500);
  try {
    for (const id of [a, b]) {
      const rerun = await waitFor(`instance ${id}'s attempt 2`, async () => (await e.store.taskInstances.listForInstance(id)).find((t) => t.attempt === 2), 30_000, 100);
      expect(rerun.state).toBe("DISPATCH");
      expect((await e.store.taskInstances.listForInstance(id)).find((t) => t.attempt === 1)!.state).toBe("NEED_FAULT_TOLERANCE");
    }
  } finally {
    clearInterval(beats);
  }
  // Attempt 2 runs on a real worker of those groups.
  const w = e.worker({ token, groups: ["sweep-a", "sweep-b"], dataDir: dataDir(e, "w-sweep") });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  expect(await e.ended(a)).toBe("SUCCESS");
  expect(await e.ended(b)).toBe("SUCCESS");
}, 60_000);
