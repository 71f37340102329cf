// Tasks for a worker group no live worker serves say so, in a cluster (issue 10 "Workers"): the
// master reads the served groups from the node registry (modes/served-groups.ts) every half lease.
// A master started before its workers used to note every task of the first half lease as waiting
// for an unserved "default" group (a false note, and a second commit per task: it made the cluster
// chain benchmark twice as slow). Now a group missing from the last read is read again first.
//
//   ./node_modules/.bin/bun test --timeout 60000 test/cluster/unserved-groups.test.ts

import { expect, test } from "bun:test";
import { startCluster } from "./cluster-harness.ts";
import { waitFor } from "../helpers/wait.ts";

test("a task of a served group is never said to wait, right after start; one of an unserved group is", async () => {
  // Lease 10 s: the registry is read every 5 s, so the runs below all fall before the second read.
  await using c = await startCluster({ prefix: "porpoise-unserved-", masters: 1, workers: 1, lease: 10 });
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  const save = async (yaml: string) => expect((await c.request("/projects/etl/workflows", { method: "POST", yaml })).status).toBe(201);
  await save(`name: plain\ntasks:\n  - { name: a, type: noop }\n  - { name: b, type: noop, deps: [a] }\n`);
  await save(`name: gpu\ntasks:\n  - { name: g, type: noop, workerGroup: gpu }\n`);
  const run = async (wf: string) => ((await (await c.request(`/projects/etl/workflows/${wf}/run`, { method: "POST", json: {} })).json()) as { id: number }).id;

  const plain = await Promise.all([run("plain"), run("plain"), run("plain")]);
  for (const id of plain) {
    const ended = await waitFor(`instance ${id} ends`, async () => {
      const i = await c.store.instances.get(id);
      return i && i.state !== "RUNNING_EXECUTION" && i.state !== "SUBMITTED_SUCCESS" ? i : null;
    });
    expect(ended.state).toBe("SUCCESS");
    // The instance keeps a note once made (the attempt's is cleared when it runs): none was made.
    expect(ended.message).toBeNull();
  }

  const gpu = await run("gpu");
  const note = 'waiting: no worker serves worker group "gpu" (served: "default"); it runs once a worker of that group is up';
  const waiting = await waitFor("the gpu task's wait noted", async () => {
    const [t] = await c.store.taskInstances.listForInstance(gpu);
    return t?.message === note ? t : null;
  });
  expect(waiting.state).toBe("DISPATCH");
  // The instance's note is a write of its own, after the attempt's (master-driver-host.ts).
  const said = `task "g" (task instance ${waiting.id}) is ${note}`;
  await waitFor("the instance's note", async () => (await c.store.instances.get(gpu))?.message === said);
  expect((await c.store.instances.get(gpu))!.message).toBe(said);
});
