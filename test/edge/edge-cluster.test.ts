// An edge worker on a cluster (issue 13): api + master on Postgres and Redis, no datacenter
// worker. The edge worker registers with the api node's gateway, which claims from the Redis
// ready queues; its shell and python tasks run to SUCCESS with their logs in the Store, and the
// master's "served groups" count the edge worker's group.

import { expect, test } from "bun:test";
import { instanceEnded, startCluster } from "../cluster/cluster-harness.ts";
import { edgeWorkerOnCluster } from "./edge-harness.ts";

const WORKFLOW = `
name: edge
tasks:
  - { name: a, type: shell, workerGroup: edge, script: "echo a on the edge" }
  - { name: b, type: python, workerGroup: edge, deps: [a], script: "print('b on the edge')" }
`;

test("an edge worker runs a cluster's tasks through the api node's gateway (Redis ready queues)", async () => {
  await using c = await startCluster({ prefix: "porpoise-edge-cluster-", masters: 1, workers: 0, lease: 2 });
  await using w = await edgeWorkerOnCluster(c, ["edge"], WORKFLOW);
  const { id } = (await (await c.request("/projects/etl/workflows/edge/run", { method: "POST", json: {} })).json()) as { id: number };
  const ended = await instanceEnded(c, id);
  expect(ended.state).toBe("SUCCESS");
  const tasks = await c.store.taskInstances.listForInstance(id);
  expect(tasks.every((t) => t.state === "SUCCESS" && t.host?.startsWith("edge:"))).toBe(true);
  for (const [name, text] of [["a", "a on the edge"], ["b", "b on the edge"]] as const) {
    const t = tasks.find((x) => x.taskName === name)!;
    const log = (await (await c.request(`/task-instances/${t.id}/log?offset=0`)).json()) as { text: string };
    expect(log.text).toContain(text);
  }
  // Not noted as waiting for an unserved group: the master counts edge workers' groups.
  expect(c.masters[0]!.proc.stdout() + c.masters[0]!.proc.stderr()).not.toContain('no worker serves worker group "edge"');
}, 120_000);
