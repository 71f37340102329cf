// A waiting serial run can miss its release: the end of the active run looks for waiting runs
// without a lock (store/serial-instances.ts releaseSerial), so a run that queued behind it and
// committed just after that look stays SERIAL_WAIT with nothing ahead of it. The masters'
// reconciliation sweep lets such a run in (cluster-sweeps.ts). Here the stranded run is written
// straight into the Store (no wake, no end to follow it), on a real cluster: only the sweep can
// start it.

import { expect, test } from "bun:test";
import { instanceEnded, startCluster } from "./cluster-harness.ts";

test("a serial run left waiting with nothing ahead of it is let in by the masters' sweep and runs", async () => {
  await using c = await startCluster({ prefix: "porpoise-serial-stranded-", masters: 1, workers: 1, lease: 2 });
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  const definition = { name: "nightly", executionType: "SERIAL_WAIT", tasks: [{ name: "t", type: "noop" }] };
  expect((await c.request("/projects/etl/workflows", { method: "POST", json: definition })).status).toBe(201);
  // The usual path first: a run goes through.
  const first = ((await (await c.request("/projects/etl/workflows/nightly/run", { method: "POST", json: {} })).json()) as { id: number; workflowId: number });
  expect((await instanceEnded(c, first.id)).state).toBe("SUCCESS");
  const row = (await c.store.instances.get(first.id))!;

  const stranded = await c.store.instances.create({ workflowId: row.workflowId, slot: row.slot, runType: "START_PROCESS", state: "SERIAL_WAIT" });
  expect(await c.store.instances.workflowsWithWaiting({ stranded: true })).toEqual([row.workflowId]);
  const ended = await instanceEnded(c, stranded.id, 30_000);
  expect(ended.state).toBe("SUCCESS");
  expect((await c.store.taskInstances.listForInstance(stranded.id)).map((t) => [t.taskName, t.state])).toEqual([["t", "SUCCESS"]]);
  expect(await c.store.instances.workflowsWithWaiting()).toEqual([]);
});
