// Creating a sub_workflow child (issue 9 items 2 and 11): the store refuses a child whose parent
// no longer runs — in the create transaction, so a stop cannot slip between the master's look and
// the INSERT — and writes the child's audit row (in the child's project) in that transaction.
import { describe, expect, test } from "bun:test";
import { ParentNotRunningError } from "../../../src/store/instances.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, firstPage, userWithProject } from "./fixtures.ts";

/** A parent instance in RUNNING_EXECUTION with one sub_workflow attempt RUNNING_EXECUTION, and a child workflow in another project. */
async function parentAndChild(store: Store) {
  const a = await userWithProject(store, { user: "alice", project: "alpha" });
  const b = await userWithProject(store, { user: "bob", project: "beta" });
  const { workflow: parentWf } = await store.workflows.create(a.project.id, definition("parent"), a.actor);
  const { workflow: childWf } = await store.workflows.create(b.project.id, definition("child"), b.actor);
  const parent = await store.instances.create({ workflowId: parentWf.id, slot: 0, runType: "START_PROCESS", executorId: a.user.id });
  await store.instances.transition(parent.id, { from: ["SUBMITTED_SUCCESS"], to: "RUNNING_EXECUTION", epoch: 0 });
  const [ins] = await store.taskInstances.applyBatch([
    { op: "insert", workflowInstanceId: parent.id, taskName: "sub", taskType: "sub_workflow", attempt: 1, state: "RUNNING_EXECUTION", dispatchToken: "t", slot: 0, epoch: 0, params: {} },
  ]);
  if (ins?.outcome !== "applied") throw new Error("parent attempt not inserted");
  const child = (extra: Record<string, unknown> = {}) =>
    store.instances.create({ workflowId: childWf.id, slot: 0, runType: "SUB_PROCESS", parentTaskInstanceId: ins.id, executorId: a.user.id, depth: 1, ...extra });
  return { a, b, parent, taskId: ins.id, child };
}

describe.each(dialects)("sub_workflow children on %s", (dialect) => {
  test("a child keeps its user and depth, and its creation is audited in the child's project, naming the parent and the user", async () => {
    await using store = await freshStore(dialect);
    const { a, b, parent, taskId, child } = await parentAndChild(store);
    const created = await child({ audit: { actor: a.actor, action: "sub_workflow.start", details: { parentWorkflowInstanceId: parent.id, parentTaskInstanceId: taskId } } });
    expect(created).toMatchObject({ projectId: b.project.id, executorId: a.user.id, depth: 1, parentTaskInstanceId: taskId });
    expect(await store.instances.get(created.id)).toMatchObject({ executorId: a.user.id, depth: 1 });
    const audit = (await store.audit.list({ ...firstPage, projectId: b.project.id })).items.find((e) => e.action === "sub_workflow.start");
    expect(audit).toMatchObject({ actorId: a.user.id, actorName: "alice", objectType: "workflow-instance", objectId: String(created.id), details: { parentWorkflowInstanceId: parent.id, parentTaskInstanceId: taskId } });
  }, 30_000);

  test("a stopping, pausing or ended parent gets no new child, and nothing is written", async () => {
    await using store = await freshStore(dialect);
    const { b, parent, child } = await parentAndChild(store);
    for (const [from, to] of [["RUNNING_EXECUTION", "READY_PAUSE"], ["READY_PAUSE", "READY_STOP"], ["READY_STOP", "STOP"]] as const) {
      expect(await store.instances.transition(parent.id, { from: [from], to, epoch: 0 })).not.toBeNull();
      const err = await child({ audit: { actor: { userId: null, userName: "porpoise" }, action: "sub_workflow.start", details: {} } }).catch((e) => e);
      expect(err).toBeInstanceOf(ParentNotRunningError);
      expect(err.parentState).toBe(to);
      expect(err.message).toContain(`is ${to}: it starts no new sub_workflow children`);
    }
    expect((await store.instances.list({ ...firstPage, projectId: b.project.id })).total).toBe(0);
    expect((await store.audit.list({ ...firstPage, projectId: b.project.id })).items.filter((e) => e.action === "sub_workflow.start")).toEqual([]);
  }, 30_000);

  test("an attempt that is no longer running gets no child either", async () => {
    await using store = await freshStore(dialect);
    const { parent, taskId, child } = await parentAndChild(store);
    await store.taskInstances.applyBatch([{ op: "update", id: taskId, attempt: 1, token: "t", from: ["RUNNING_EXECUTION"], to: "KILL", set: {} }]);
    const err = await child().catch((e) => e);
    expect(err).toBeInstanceOf(ParentNotRunningError);
    expect(err.parentInstanceId).toBe(parent.id);
    expect(err.message).toContain("is KILL");
  }, 30_000);
});
