// A master group commit retried after a failure whose outcome is unknown (the connection was
// lost during COMMIT) must not apply twice and must give the master the outcomes the first
// commit had: the batch's marker (migration 0008) answers. Both dialects.
import { describe, expect, test } from "bun:test";
import type { Store, TaskBatchOp } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function runningInstance(store: Store) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  return store.instances.create({ workflowId: workflow.id, slot: 2, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
}

async function batchOf(store: Store) {
  const wi = await runningInstance(store);
  const [first] = await store.taskInstances.applyBatch([
    { op: "insert", workflowInstanceId: wi.id, taskName: "extract", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t1", slot: 2, epoch: 1, submitTime: new Date() },
  ]);
  const extract = first!.outcome === "applied" ? first!.id : -1;
  const ops: TaskBatchOp[] = [
    { op: "update", id: extract, attempt: 1, token: "t1", from: ["DISPATCH", "RUNNING_EXECUTION"], to: "SUCCESS", set: { endTime: new Date() }, fence: { workflowInstanceId: wi.id, epoch: 1 } },
    { op: "insert", workflowInstanceId: wi.id, taskName: "load", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t2", slot: 2, epoch: 1, submitTime: new Date() },
    { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "READY_STOP", epoch: 1 },
  ];
  return { wi, extract, ops };
}

describe.each(dialects)("group commit retried after an unknown outcome (%s)", (dialect) => {
  test("a retry of a committed batch returns its first outcomes and applies nothing again", async () => {
    await using store = await freshStore(dialect);
    const { wi, ops } = await batchOf(store);
    const first = await store.taskInstances.applyBatch(ops, { id: "batch-1" });
    expect(first.map((o) => o.outcome)).toEqual(["applied", "applied", "applied"]);
    const rows = await store.taskInstances.listForInstance(wi.id);

    // As the master retries after losing the answer to COMMIT: same ops, same id.
    expect(await store.taskInstances.applyBatch(ops, { id: "batch-1", retry: true })).toEqual(first);
    // Same id without the retry flag: the marker's key is taken, so the stored outcomes come back too.
    expect(await store.taskInstances.applyBatch(ops, { id: "batch-1" })).toEqual(first);
    expect(await store.taskInstances.listForInstance(wi.id)).toEqual(rows);
    expect((await store.instances.get(wi.id))!.state).toBe("READY_STOP");

    // What the marker prevents: the same ops applied as a new batch read as someone else's writes.
    const replay = await store.taskInstances.applyBatch(ops, { id: "batch-2" });
    expect(replay.map((o) => o.outcome)).toEqual(["stale", "duplicate", "stale"]);
  });

  test("a retry of a batch that never committed applies it (once)", async () => {
    await using store = await freshStore(dialect);
    const { wi, ops } = await batchOf(store);
    const out = await store.taskInstances.applyBatch(ops, { id: "never-committed", retry: true });
    expect(out.map((o) => o.outcome)).toEqual(["applied", "applied", "applied"]);
    expect((await store.taskInstances.listForInstance(wi.id)).map((t) => [t.taskName, t.state])).toEqual([
      ["extract", "SUCCESS"],
      ["load", "DISPATCH"],
    ]);
  });
});
