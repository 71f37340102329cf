// The api's reads of running instances come from the snapshots the masters keep in Redis
// (src/cache/instance-snapshots.ts), on a real cluster: api + master + worker processes.
// - The master writes the snapshot of a running instance only once the api read it (and asked).
// - The detail read of a running instance is served from the snapshot: a marked snapshot, validly
//   signed with the cluster secret, is what the api answers.
// - Access is decided as before by the instance's project: a member of another project gets the
//   same 404 as for an id that does not exist, also when a forged snapshot names their project.
// - Polled while the run goes on, the answers never go back to an older state; after FLUSHALL
//   the reads come from the Store (no error), and the run ends SUCCESS. A log follow opened
//   meanwhile ends when its attempt does.

import { expect, test } from "bun:test";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { createLogger } from "../../src/core/log.ts";
import { TERMINAL_TASK_STATES, TERMINAL_WORKFLOW_STATES } from "../../src/core/states.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_SECRET, type Cluster, startCluster } from "./cluster-harness.ts";

interface TaskView {
  id: number;
  taskName: string;
  state: string;
  attempt: number;
}
interface DetailView {
  id: number;
  state: string;
  message: string | null;
  taskCount: number | null;
  tasks: TaskView[];
}

const log = createLogger({ level: "error", format: "text" });

/** Creates the gate file atomically (a task polling for it never sees it half written). */
function openGate(dir: string, name: string): void {
  writeFileSync(join(dir, `.${name}.tmp`), "1");
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
}
const PASSWORD = "correct horse battery";

async function login(c: Cluster, name: string): Promise<string> {
  expect((await c.request("/users", { method: "POST", json: { name, password: PASSWORD } })).status).toBe(201);
  const res = await fetch(`${c.api}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: name, password: PASSWORD }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function detail(c: Cluster, id: number, token?: string): Promise<{ status: number; body: DetailView & { error?: { code: string; message: string } } }> {
  const res = token ? await fetch(`${c.api}/workflow-instances/${id}`, { headers: { authorization: `Bearer ${token}` } }) : await c.request(`/workflow-instances/${id}`);
  return { status: res.status, body: (await res.json()) as DetailView & { error?: { code: string; message: string } } };
}

const terminalTask = new Set<string>(TERMINAL_TASK_STATES);
const rank = (state: string) => (terminalTask.has(state) ? 3 : state === "RUNNING_EXECUTION" ? 2 : state === "DISPATCH" ? 1 : 0);

/** Answers polled in order must never go back: no attempt disappears or returns to an earlier state, an ended instance stays ended. */
function checkMonotonic(views: readonly DetailView[]): void {
  const seen = new Map<number, number>();
  let ended = false;
  for (const [i, view] of views.entries()) {
    const ids = new Set(view.tasks.map((t) => t.id));
    for (const id of seen.keys()) expect({ view: i, missing: ids.has(id) ? null : id }).toEqual({ view: i, missing: null });
    for (const t of view.tasks) {
      expect({ view: i, task: t.id, backwards: rank(t.state) < (seen.get(t.id) ?? 0) }).toEqual({ view: i, task: t.id, backwards: false });
      seen.set(t.id, rank(t.state));
    }
    const nowEnded = (TERMINAL_WORKFLOW_STATES as readonly string[]).includes(view.state);
    expect({ view: i, reopened: ended && !nowEnded }).toEqual({ view: i, reopened: false });
    ended = nowEnded;
  }
}

test("running instances are read from their snapshots in Redis; access, ordering and FLUSHALL behave", async () => {
  await using c = await startCluster({ prefix: "porpoise-instance-cache-", masters: 1, workers: 1, lease: 2 });
  const gate = (name: string) => `while [ ! -f '${join(c.tmp, name)}' ]; do sleep 0.05; done`;
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  expect((await c.request("/projects", { method: "POST", json: { name: "other" } })).status).toBe(201);
  const workflow = {
    name: "gated",
    tasks: [
      { name: "a", type: "shell", script: "echo a" },
      { name: "held", type: "shell", deps: ["a"], script: `${gate("go")}; echo held` },
      { name: "b", type: "noop", deps: ["held"] },
      { name: "held2", type: "shell", deps: ["b"], script: `${gate("go2")}; echo held2` },
      { name: "c", type: "shell", deps: ["held2"], script: "echo c" },
      { name: "d", type: "noop", deps: ["c"] },
    ],
  };
  expect((await c.request("/projects/etl/workflows", { method: "POST", json: workflow })).status).toBe(201);
  const viewer = await login(c, "vera");
  const mallory = await login(c, "mallory");
  expect((await c.request("/projects/etl/members", { method: "POST", json: { user: "vera", role: "viewer" } })).status).toBe(201);
  expect((await c.request("/projects/other/members", { method: "POST", json: { user: "mallory", role: "owner" } })).status).toBe(201);
  const other = (await (await c.request("/projects/other")).json()) as { id: number };

  const id = ((await (await c.request("/projects/etl/workflows/gated/run", { method: "POST", json: {} })).json()) as { id: number }).id;
  await waitFor("held running", async () => (await c.store.taskInstances.listForInstance(id)).some((t) => t.taskName === "held" && t.state === "RUNNING_EXECUTION"));

  // Nobody read it yet: the master writes no snapshot (only instances the api reads are kept).
  const cache = new RedisCache({ url: c.redis.url, prefix: "porpoise:cache:", secret: CLUSTER_SECRET, log });
  let stopPolling = () => {};
  const admin = new Redis(c.redis.url);
  try {
    const key = `instance:${id}`;
    await Bun.sleep(600); // past the first 250 ms of the run and several of the writer's ticks
    expect(await cache.getVersioned(key)).toBeNull();
    // The first read comes from the Store and asks for the snapshot; the master writes it, signed
    // with the cluster secret.
    expect((await detail(c, id)).status).toBe(200);
    const stored = await waitFor("the snapshot with held running", async () => {
      const found = await cache.getVersioned(key);
      const value = found ? (JSON.parse(found.value) as { live: boolean; instance: { projectId: number; message: string | null }; tasks: TaskView[] }) : null;
      return value?.live && value.tasks.some((t) => t.taskName === "held" && t.state === "RUNNING_EXECUTION") ? { ...found!, parsed: value } : null;
    });
    const fromStore = await detail(c, id);
    expect(fromStore.status).toBe(200);
    expect(fromStore.body.tasks.map((t) => `${t.taskName}:${t.state}`)).toEqual(["a:SUCCESS", "held:RUNNING_EXECUTION"]);
    expect(fromStore.body.taskCount).toBe(6);

    // 1. Served from the snapshot: a marked one (newer version, genuine signature) is what the api
    // answers for the attempts; the instance row itself is always the Store's (access.ts), and the
    // snapshot stands in only while its row matches the Store's.
    const marked = { ...stored.parsed, tasks: stored.parsed.tasks.map((t) => (t.taskName === "held" ? { ...t, message: "served from the snapshot" } : t)) };
    expect(await cache.setIfNewer(key, stored.version + 1, JSON.stringify(marked), { ttlMs: 60_000 })).toBe(true);
    const heldMessage = (v: { body: DetailView }) => (v.body.tasks as (TaskView & { message?: string | null })[]).find((t) => t.taskName === "held")?.message;
    expect(heldMessage(await detail(c, id))).toBe("served from the snapshot");
    expect(heldMessage(await detail(c, id, viewer))).toBe("served from the snapshot");

    // 2. Access: the instance's project decides, exactly as for a read from the Store.
    const missing = await detail(c, 999_999_999, mallory);
    const hostile = await detail(c, id, mallory);
    expect(missing.status).toBe(404);
    expect({ status: hostile.status, error: hostile.body.error }).toEqual({
      status: 404,
      error: { ...missing.body.error!, message: missing.body.error!.message.replace("999999999", String(id)) },
    });
    expect(JSON.stringify(hostile.body)).not.toContain("served from the snapshot");
    expect((await fetch(`${c.api}/workflow-instances/${id}`)).status).toBe(401);
    // A snapshot forged in Redis (no valid signature) that names mallory's project reads as absent.
    const forged = { ...stored.parsed, instance: { ...stored.parsed.instance, projectId: other.id, message: "forged" } };
    await admin.set(`porpoise:cache:${key}`, `${stored.version + 2}:${stored.version + 2}:${JSON.stringify(forged)}`);
    const stillHostile = await detail(c, id, mallory);
    expect({ status: stillHostile.status, code: stillHostile.body.error?.code }).toEqual({ status: 404, code: "NOT_FOUND" });
    const byViewer = await detail(c, id, viewer);
    expect(byViewer.status).toBe(200);
    expect(byViewer.body.message).toBeNull(); // the Store's row
    await admin.del(`porpoise:cache:${key}`);

    // 3. Polled while the run goes on (and through a FLUSHALL), the answers never go back.
    const views: DetailView[] = [];
    let polling = true;
    stopPolling = () => (polling = false);
    const poller = (async () => {
      while (polling) {
        const r = await detail(c, id, viewer);
        expect(r.status).toBe(200);
        views.push(r.body);
        await Bun.sleep(5);
      }
    })();
    openGate(c.tmp, "go");
    await waitFor("held2 running", async () => (await c.store.taskInstances.listForInstance(id)).some((t) => t.taskName === "held2" && t.state === "RUNNING_EXECUTION"));
    await waitFor("a snapshot with held2 running", async () => {
      const found = await cache.getVersioned(key);
      return found && (JSON.parse(found.value) as { tasks?: TaskView[] }).tasks?.some((t) => t.taskName === "held2" && t.state === "RUNNING_EXECUTION");
    });
    // A log follow asks the snapshot (then, after the flush, the Store) whether its attempt ended.
    const held2 = (await c.store.taskInstances.listForInstance(id)).find((t) => t.taskName === "held2")!;
    const followed = fetch(`${c.api}/task-instances/${held2.id}/log?follow=1`, { headers: { authorization: `Bearer ${viewer}` } }).then((r) => r.text());
    expect(await admin.flushall()).toBe("OK");
    const afterFlush = await detail(c, id, viewer);
    expect(afterFlush.status).toBe(200);
    // In DAG order (a task after its deps), as every instance read lists them.
    expect(afterFlush.body.tasks.map((t) => `${t.taskName}:${t.state}`)).toEqual(["a:SUCCESS", "held:SUCCESS", "b:SUCCESS", "held2:RUNNING_EXECUTION"]);
    openGate(c.tmp, "go2");
    await waitFor("the instance ends", async () => (await detail(c, id, viewer)).body.state === "SUCCESS", 60_000);
    polling = false;
    await poller;
    const log = await followed;
    expect(log).toContain("[out] held2");
    expect(log).toMatch(/event: end\ndata: \{"nextOffset":\d+,"ended":true\}/);
    checkMonotonic(views);
    expect(views.length).toBeGreaterThan(1);
    const final = await detail(c, id, viewer);
    expect(final.body.tasks.map((t) => `${t.taskName}:${t.state}`)).toEqual(["a:SUCCESS", "held:SUCCESS", "b:SUCCESS", "held2:SUCCESS", "c:SUCCESS", "d:SUCCESS"]);
    // 4. A run that ended answers ended at once, even with a RUNNING snapshot still in Redis (the
    // master writes its snapshots after the commits they show; `npm run bench -- --smoke` read a
    // run SUCCESS in the list and RUNNING_EXECUTION with a task in DISPATCH in the detail).
    expect(await cache.setIfNewer(key, Number.MAX_SAFE_INTEGER - 1, JSON.stringify(stored.parsed), { ttlMs: 60_000 })).toBe(true);
    const afterEnd = await detail(c, id, viewer);
    expect(afterEnd.body.state).toBe("SUCCESS");
    expect(afterEnd.body.tasks.map((t) => `${t.taskName}:${t.state}`)).toEqual(["a:SUCCESS", "held:SUCCESS", "b:SUCCESS", "held2:SUCCESS", "c:SUCCESS", "d:SUCCESS"]);
    console.log(`instance cache: ${views.length} detail reads while the run went on, none went back`);
  } finally {
    stopPolling();
    await cache.close();
    admin.disconnect();
  }
}, 120_000);
