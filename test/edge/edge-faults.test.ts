// Edge workers surviving flaky links (issue 13), against one real `porpoise all` on SQLite with a
// 4 s cluster lease (edge lease 12 s: a restart of the server from source on a loaded CI box stays
// well inside it): the link cut mid-task by a TCP proxy the test controls, the gateway restarted mid-task, the worker killed -9 mid-task and restarted. Each task waits for a
// marker file the test creates, so the fault always lands while it runs.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir, edgeEnv, type EdgeEnv, tcpProxy, waitFor } from "./edge-harness.ts";

let e: EdgeEnv;
beforeAll(async () => {
  e = await edgeEnv("porpoise-edge-faults-", { lease: "4s" });
}, 60_000);
afterAll(async () => {
  await e?.[Symbol.asyncDispose]();
});

/** A shell task that prints, waits for `marker`, prints again. */
const waiting = (marker: string) => `echo "begin"; while [ ! -f ${marker} ]; do sleep 0.05; done; echo "finish"`;
const running = async (id: number) => waitFor(`instance ${id}'s task RUNNING`, async () => (await e.store.taskInstances.listForInstance(id)).find((t) => t.state === "RUNNING_EXECUTION"), 30_000, 20);
const count = (text: string, word: string) => text.split("\n").filter((l) => l.endsWith(`[out] ${word}`)).length;

test("the link cut mid-task: the task finishes, its result and log arrive after the reconnect, exactly once", async () => {
  const url = new URL(e.url);
  const proxy = tcpProxy({ host: url.hostname, port: Number(url.port) });
  try {
    const { token } = await e.workerToken(["cut"]);
    const w = e.worker({ token, groups: ["cut"], dataDir: dataDir(e, "w-cut"), gateway: `http://127.0.0.1:${proxy.port}` });
    await w.waitFor(/edge worker \S+ ready/, 30_000);
    const marker = join(e.env.tmp, "cut-marker");
    await e.workflow("cut", [{ name: "t", type: "shell", workerGroup: "cut", script: waiting(marker) }]);
    const id = await e.run("cut");
    await running(id);
    proxy.cut();
    writeFileSync(marker, "");
    // The task ends while the link is down: its result waits in the spool.
    await w.waitFor(/sending \d+ spooled items failed/, 30_000);
    expect((await e.store.taskInstances.listForInstance(id))[0]!.state).toBe("RUNNING_EXECUTION");
    proxy.restore();
    expect(await e.ended(id)).toBe("SUCCESS");
    const tasks = await e.store.taskInstances.listForInstance(id);
    expect(tasks.map((t) => [t.attempt, t.state])).toEqual([[1, "SUCCESS"]]);
    const log = await e.log(tasks[0]!.id);
    expect([count(log, "begin"), count(log, "finish")]).toEqual([1, 1]);
  } finally {
    proxy.close();
  }
}, 90_000);

test("the gateway restarted mid-task: the worker reconnects, the result arrives once, the attempt is not rerun", async () => {
  // The worker reaches the gateway through a proxy: the restarted server listens on another port.
  const url = new URL(e.url);
  const proxy = tcpProxy({ host: url.hostname, port: Number(url.port) });
  const { token } = await e.workerToken(["restart"]);
  const w = e.worker({ token, groups: ["restart"], dataDir: dataDir(e, "w-restart"), gateway: `http://127.0.0.1:${proxy.port}` });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  const marker = join(e.env.tmp, "restart-marker");
  await e.workflow("restart", [{ name: "t", type: "shell", workerGroup: "restart", script: waiting(marker) }]);
  const id = await e.run("restart");
  await running(id);
  e.server.signal("SIGTERM");
  await e.server.exit(30_000);
  writeFileSync(marker, "");
  await w.waitFor(/sending \d+ spooled items failed/, 30_000);
  proxy.retarget(await e.restartServer());
  const state = await e.ended(id, 20_000).catch((err) => {
    console.log(w.stdout().slice(-6000), w.stderr().slice(-6000), "\n---server---\n", e.server.stdout().slice(-4000), e.server.stderr().slice(-6000));
    throw err;
  });
  expect(state).toBe("SUCCESS");
  const tasks = await e.store.taskInstances.listForInstance(id);
  expect(tasks.map((t) => [t.attempt, t.state])).toEqual([[1, "SUCCESS"]]);
  const log = await e.log(tasks[0]!.id);
  expect([count(log, "begin"), count(log, "finish")]).toEqual([1, 1]);
  proxy.close();
}, 90_000);

test("the worker killed -9 mid-task and restarted: it reports the attempt, which runs again as attempt + 1", async () => {
  const { token } = await e.workerToken(["kill"]);
  const dir = dataDir(e, "w-kill");
  const w = e.worker({ token, groups: ["kill"], dataDir: dir });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  const marker = join(e.env.tmp, "kill-marker");
  await e.workflow("kill", [{ name: "t", type: "shell", workerGroup: "kill", script: waiting(marker) }]);
  const id = await e.run("kill");
  await running(id);
  // The journal of started attempts is written before the report goes out.
  await waitFor("the attempt in the journal", async () => existsSync(join(dir, "edge", "started")), 10_000);
  w.signal("SIGKILL");
  await w.exit(10_000);
  writeFileSync(marker, "");
  const again = e.worker({ token, groups: ["kill"], dataDir: dir });
  await again.waitFor(/1 attempts lost in its restart run again|registered/, 30_000);
  expect(await e.ended(id)).toBe("SUCCESS");
  const tasks = (await e.store.taskInstances.listForInstance(id)).sort((a, b) => a.attempt - b.attempt);
  expect(tasks.map((t) => [t.attempt, t.state])).toEqual([[1, "NEED_FAULT_TOLERANCE"], [2, "SUCCESS"]]);
  // Nothing in flight is left behind.
  expect((await e.store.taskInstances.listInFlight({})).filter((t) => t.workflowInstanceId === id)).toEqual([]);
}, 90_000);
