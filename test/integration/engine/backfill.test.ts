// Backfill progress lives in the Store: a master start resumes a RUNNING backfill whose runs
// were never created (a crash between the backfill's create and its first advance), and a stop
// creates nothing more and stops the running instance. Both dialects, real engine.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const newBackfill = (projectId: number, workflowId: number, plan: Date[]) => ({
  projectId,
  workflowId,
  scheduleId: null,
  runMode: "serial" as const,
  maxParallelism: 1,
  onFailure: "stop" as const,
  failureStrategy: "END" as const,
  priority: "MEDIUM" as const,
  workerGroup: "default",
  params: {},
  plan,
});

describe.each(dialects)("backfill in the engine (%s)", (dialect) => {
  test("a master start resumes a RUNNING backfill from the Store and finishes it", async () => {
    await using h = await harness(dialect);
    await h.save({ name: "daily", tasks: [{ name: "t", type: "shell", script: "echo ok" }] });
    const wf = (await h.store.workflows.get(h.projectId, "daily"))!;
    const plan = [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-02T00:00:00Z")];
    const b = await h.store.backfills.create(newBackfill(h.projectId, wf.id, plan), h.actor);
    expect((await h.store.backfills.get(b.id))!.created).toBe(0);
    await h.restart(0);
    const done = await h.waitFor("backfill SUCCESS", async () => {
      const x = await h.store.backfills.get(b.id);
      return x?.state === "SUCCESS" ? x : null;
    });
    expect(done).toMatchObject({ total: 2, created: 2, succeeded: 2, failed: 0 });
    const runs = await h.store.backfills.runs(b.id);
    expect(runs.map((r) => [r.scheduleTime.toISOString(), r.state])).toEqual(plan.map((d) => [d.toISOString(), "SUCCESS"]));
  });

  test("stop: the running instance is stopped and no further run is created", async () => {
    await using h = await harness(dialect);
    await h.save({ name: "slow", tasks: [{ name: "t", type: "shell", script: "sleep 60" }] });
    const wf = (await h.store.workflows.get(h.projectId, "slow"))!;
    const plan = [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-02T00:00:00Z"), new Date("2026-01-03T00:00:00Z")];
    const b = await h.store.backfills.create(newBackfill(h.projectId, wf.id, plan), h.actor);
    await h.engine.client.advanceBackfill!(b.id);
    const [first] = await h.store.backfills.runs(b.id);
    await h.waitFor("the first run's task running", async () => (await h.latest(first!.instanceId!, "t"))?.state === "RUNNING_EXECUTION");
    const { backfill, active } = await h.store.backfills.stop(b.id, h.actor);
    expect(backfill.state).toBe("STOPPED");
    expect(active).toEqual([first!.instanceId!]);
    for (const id of active) await h.engine.client.control(id, "stop", h.actor);
    await h.waitState(first!.instanceId!, ["STOP"]);
    // The end of the stopped run advances nothing: still one run created, the backfill STOPPED.
    await h.waitFor("the end seen by the backfill", async () => (await h.store.instances.get(first!.instanceId!))?.endTime);
    const after = (await h.store.backfills.get(b.id))!;
    expect(after).toMatchObject({ state: "STOPPED", created: 1 });
    expect((await h.store.backfills.runs(b.id)).map((r) => r.state)).toEqual(["STOP", "NOT_STARTED", "NOT_STARTED"]);
  });
});
