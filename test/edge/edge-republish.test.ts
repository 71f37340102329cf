// The edge gateway publishes the latest events of the edge attempts it reported again when Redis
// lost its contents (src/api/edge/gateway.ts with bus/recent-events.ts and cache/redis-resets.ts;
// docs/architecture.md §3.1), as a cluster worker does (test/cluster/worker-republish.test.ts).
// A cluster of api + 1 master on Postgres and Redis, an edge worker: its task's "done" goes
// through the api node's gateway into the slot's stream while the master is frozen (SIGSTOP), so
// no master has read it; then FLUSHALL. Without the republish that result is gone: ~12 s later the
// gateway's sweep finds the attempt RUNNING on a worker that no longer runs it and runs the task
// again as attempt 2 (a second execution; checked by disabling the republish). With it, the master
// finds the result once it runs again, and the run ends SUCCESS with its one attempt.

import { expect, test } from "bun:test";
import Redis from "ioredis";
import { instanceEnded, startCluster } from "../cluster/cluster-harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { edgeWorkerOnCluster } from "./edge-harness.ts";

const WORKFLOW = `
name: slow
tasks:
  - { name: a, type: shell, workerGroup: edge, script: "sleep 1.5; echo a on the edge" }
`;

test("the edge gateway publishes its attempts' latest events again after FLUSHALL: a result no master had read arrives", async () => {
  await using c = await startCluster({ prefix: "porpoise-edge-republish-", masters: 1, workers: 0, lease: 2 });
  const admin = new Redis(c.redis.url);
  const master = c.masters[0]!.proc;
  try {
    await using w = await edgeWorkerOnCluster(c, ["edge"], WORKFLOW);
    const { id } = (await (await c.request("/projects/etl/workflows/slow/run", { method: "POST", json: {} })).json()) as { id: number };
    const running = await waitFor("task a RUNNING (recorded by the master)", async () => {
      const t = (await c.store.taskInstances.listForInstance(id)).find((x) => x.taskName === "a");
      return t?.state === "RUNNING_EXECUTION" ? t : null;
    }, 30_000);
    const stream = `porpoise:ev:${running.slot}`;
    const kinds = async () => ((await admin.xrange(stream, "-", "+")) as [string, string[]][]).map(([, f]) => (JSON.parse((JSON.parse(f[1]!) as { body: string }).body) as { kind: string }).kind);
    // No master reads while frozen: the result stays in the slot's stream, unread.
    master.signal("SIGSTOP");
    try {
      await waitFor("the edge task's done in the slot's stream", async () => (await kinds()).includes("done"), 30_000);
      expect(await admin.flushall()).toBe("OK");
      await waitFor("the api's gateway published it again", async () => (await kinds()).join() === "done", 8_000);
    } finally {
      master.signal("SIGCONT");
    }
    expect(c.apiNode.proc.stdout() + c.apiNode.proc.stderr()).toContain("edge: publishing the latest events of 1 recent edge task attempts again");
    const ended = await instanceEnded(c, id);
    expect(ended.state).toBe("SUCCESS");
    const attempts = await c.store.taskInstances.listForInstance(id);
    expect(attempts.map((t) => [t.taskName, t.attempt, t.state])).toEqual([["a", 1, "SUCCESS"]]);
  } finally {
    admin.disconnect();
  }
}, 120_000);
