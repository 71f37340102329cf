// Redis is untrusted (issue 10, docs/architecture.md §3.8): whoever can write to it must not make a
// worker run anything, nor a master record a result. A cluster (api, 1 master, 1 worker, nodes at
// debug log level so the bus's drops are visible) with two real targets whose details (ids,
// attempt, token — the hardest forgeries: everything right but the HMAC) are read from the Store:
//   - "parked": a task of worker group "nobody" that no worker serves, so it waits in DISPATCH;
//     a worker that ran a forged ready task for it would write a ledger row, a master that took a
//     forged "done" would end it;
//   - "sleeper": a task that runs 4 s on the worker; a forged kill would end it KILL.
// Written straight into Redis: ready-queue entries (wrong HMAC, unsigned, a valid event envelope
// copied into the queue), slot event stream entries (running and done, wrong HMAC and unsigned),
// kill and wake channel messages (wrong HMAC and unsigned). Checks: 0 executions (no ledger row
// and no start of "parked"), 0 recorded results ("parked" still DISPATCH, "sleeper" SUCCESS after
// one attempt), and the drops counted by the bus of the node that read them (its debug log).
//
//   ./node_modules/.bin/bun test --timeout 60000 test/cluster/forged.test.ts

import { expect, test } from "bun:test";
import Redis from "ioredis";
import { createSigner } from "../../src/bus/signing.ts";
import type { TaskInstance } from "../../src/store/store.ts";
import { createLedger } from "../helpers/ledger.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_SECRET, startCluster } from "./cluster-harness.ts";
import { nodeLines } from "./cluster-workload.ts";

const P = "porpoise:";
const BAD_SIG = "0".repeat(64);

test("forged and unsigned messages written into Redis: 0 executions, 0 recorded results, drops counted", async () => {
  await using ledger = await createLedger();
  await using c = await startCluster({ prefix: "porpoise-forged-", masters: 1, workers: 1, lease: 5, env: { PORPOISE_LOG_LEVEL: "debug" } });
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  for (const [name, group, work] of [["parked", "nobody", "true"], ["sleeper", "default", "sleep 4"]] as const) {
    const def = { name, tasks: [{ name: "t", type: "shell", workerGroup: group, script: ledger.task(work) }] };
    const res = await c.request("/projects/etl/workflows", { method: "POST", yaml: JSON.stringify(def) });
    expect(res.status).toBe(201);
  }
  const run = async (name: string) => ((await (await c.request(`/projects/etl/workflows/${name}/run`, { method: "POST", json: {} })).json()) as { id: number }).id;
  const attemptIn = (instanceId: number, state: string) =>
    waitFor(`instance ${instanceId}'s attempt in ${state}`, async () => (await c.store.taskInstances.listForInstance(instanceId)).find((t) => t.state === state), 60_000, 50);
  const parkedId = await run("parked");
  const sleeperId = await run("sleeper");
  const parked = await attemptIn(parkedId, "DISPATCH");
  const sleeper = await attemptIn(sleeperId, "RUNNING_EXECUTION");

  const redis = new Redis(c.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const otherSigner = createSigner("not-the-cluster-secret");
  const ourSigner = createSigner(CLUSTER_SECRET);
  const forged = (body: string) => JSON.stringify({ sig: BAD_SIG, body });
  const unsigned = (body: string) => JSON.stringify({ body });
  let written = { ready: 0, events: 0, kills: 0, wakes: 0 };
  try {
    // Ready tasks for "parked" in the queue of the group the worker serves, right in every field.
    const ready = (t: TaskInstance) =>
      JSON.stringify({ taskInstanceId: t.id, workflowInstanceId: t.workflowInstanceId, slot: t.slot, epoch: t.epoch, attempt: t.attempt, token: t.dispatchToken, instancePriority: 2, priority: 2, workerGroup: "default", enqueuedAt: Date.now() });
    const eventEnvelope = ourSigner.seal(`event:${parked.slot}`, ready(parked)); // signed right, for another purpose
    const envelopes = [forged(ready(parked)), unsigned(ready(parked)), otherSigner.seal("ready:default", ready(parked)), eventEnvelope];
    for (const [i, env] of envelopes.entries()) {
      const id = `${parked.id}:${parked.attempt}:${parked.dispatchToken}${i === 0 ? "" : `#${i}`}`;
      await redis.hset(`${P}q:default:tasks`, id, env);
      await redis.zadd(`${P}q:default:ready`, i, id);
      written.ready++;
    }
    await redis.rpush(`${P}q:default:marker`, "1");

    // Results for both attempts on their slots' event streams.
    const done = (t: TaskInstance) =>
      JSON.stringify({ kind: "done", taskInstanceId: t.id, workflowInstanceId: t.workflowInstanceId, slot: t.slot, epoch: t.epoch, attempt: t.attempt, token: t.dispatchToken, state: "SUCCESS", exitCode: 0, output: {}, message: null, endTime: new Date().toISOString(), host: "w1", logPath: null, startTime: new Date().toISOString() });
    const running = (t: TaskInstance) =>
      JSON.stringify({ kind: "running", taskInstanceId: t.id, workflowInstanceId: t.workflowInstanceId, slot: t.slot, epoch: t.epoch, attempt: t.attempt, token: t.dispatchToken, host: "w1", logPath: null, startTime: new Date().toISOString() });
    for (const t of [parked, sleeper]) {
      for (const body of [running(t), done(t)])
        for (const env of [forged(body), unsigned(body), otherSigner.seal(`event:${t.slot}`, body)]) {
          await redis.xadd(`${P}ev:${t.slot}`, "*", "m", env);
          written.events++;
        }
    }

    // Kills of the running sleeper, wakes of the parked instance.
    const kill = JSON.stringify({ taskInstanceId: sleeper.id, attempt: sleeper.attempt, token: sleeper.dispatchToken, reason: "forged" });
    for (const env of [forged(kill), unsigned(kill), otherSigner.seal("porpoise.kill", kill)]) {
      await redis.publish(`${P}kill`, env);
      written.kills++;
    }
    const wake = JSON.stringify({ instanceId: parkedId });
    for (const env of [forged(wake), unsigned(wake)]) {
      await redis.publish(`${P}wake`, env);
      written.wakes++;
    }
  } finally {
    redis.disconnect();
  }

  // The sleeper ends on its own (4 s): a forged kill would have ended it KILL sooner.
  const sleeperEnd = await waitFor("the sleeper to end", async () => {
    const i = await c.store.instances.get(sleeperId);
    return i && ["SUCCESS", "FAILURE", "STOP", "KILL"].includes(i.state) ? i : null;
  }, 60_000, 100);
  // Drops are counted as each node reads them: wait until every forged message was seen.
  const drops = () => nodeLines(c, /redis bus dropped a message/);
  // Kills are broadcast: the worker reads them, and so does the api node (its edge gateway relays them to edge workers).
  const total = written.ready + written.events + 2 * written.kills + written.wakes;
  await waitFor(`${total} drops logged`, async () => drops().length >= total, 30_000, 100).catch(() => {});
  await Bun.sleep(500); // anything a forgery set off would show by now

  const parkedAfter = await c.store.taskInstances.listForInstance(parkedId);
  const sleeperAfter = await c.store.taskInstances.listForInstance(sleeperId);
  const report = await ledger.read();
  const lines = drops();
  const byReason: Record<string, number> = {};
  for (const l of lines) {
    const r = /reason=(\w+)/.exec(l)?.[1] ?? "?";
    byReason[r] = (byReason[r] ?? 0) + 1;
  }
  const perNode = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).length;
  console.log(
    `forged messages written into Redis: ${JSON.stringify(written)}; drops logged ${lines.length} ${JSON.stringify(byReason)} (worker ${perNode("w1:")}, master ${perNode("m1:")}); ` +
      `other nodes: ${JSON.stringify(lines.filter((l) => !l.startsWith("w1:") && !l.startsWith("m1:")).map((l) => l.slice(0, 160)))}; ` +
      `ledger rows ${report.rows.length} (the sleeper's only); parked attempt ${parkedAfter.map((t) => t.state).join(",")}; sleeper ${sleeperEnd.state} after ${sleeperAfter.length} attempt(s)`,
  );
  // 0 executions: the parked attempt never started anywhere; the only effect is the sleeper's own.
  expect(parkedAfter.map((t) => ({ state: t.state, host: t.host, startTime: t.startTime }))).toEqual([{ state: "DISPATCH", host: null, startTime: null }]);
  expect(report.rows.map((r) => r.idemKey)).toEqual([`${sleeperId}:t`]);
  // 0 recorded results: nothing ended the parked attempt, nothing killed or ended the sleeper early.
  expect(sleeperEnd.state).toBe("SUCCESS");
  expect(sleeperAfter.map((t) => t.state)).toEqual(["SUCCESS"]);
  // Every forged or unsigned message was dropped and counted by the bus that read it.
  expect(lines.length).toBe(total);
  expect(byReason.unsigned).toBe(written.ready / 4 + written.events / 3 + (2 * written.kills) / 3 + written.wakes / 2);
  expect(perNode("w1:")).toBe(written.ready + written.kills);
  expect(perNode("m1:")).toBe(written.events + written.wakes);
  expect(perNode("api1:")).toBe(written.kills);
}, 120_000);
