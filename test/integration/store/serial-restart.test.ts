// Controls that submit an ended instance again (resume / rerun / recover-failed) go through the
// serial decision in the same transaction as the new state: PARALLEL and a free slot submit it
// (keeping the control in pending_control), SERIAL_WAIT / SERIAL_PRIORITY queue it, and
// SERIAL_DISCARD refuses it with a message, leaving its state alone. Both dialects, and two
// store connections racing.

import { describe, expect, test } from "bun:test";
import type { ExecutionType } from "../../../src/core/workflow-schema.ts";
import { openStore } from "../../../src/store/open.ts";
import type { Store, WorkflowInstanceState } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, firstPage, userWithProject } from "./fixtures.ts";

async function setup(store: Store, executionType: ExecutionType) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily", "echo hi", { executionType }), actor);
  const create = () => store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS", executionType });
  return { project, workflow, create };
}

async function end(store: Store, id: number, to: WorkflowInstanceState): Promise<void> {
  const row = (await store.instances.get(id))!;
  expect(await store.instances.transition(id, { from: [row.state], to, epoch: row.epoch, set: { endTime: new Date() } })).not.toBeNull();
}

const resume = (store: Store, id: number, from: WorkflowInstanceState[] = ["PAUSE"]) =>
  store.instances.restart(id, { control: "resume", from, epoch: 0, set: { runTimes: 2, endTime: null } });

describe.each(dialects)("restart controls and the serial queue on %s", (dialect) => {
  test("PARALLEL, or nothing else active: submitted at once, the control kept for whoever starts it", async () => {
    await using store = await freshStore(dialect);
    const { create } = await setup(store, "SERIAL_WAIT");
    const a = await create();
    await end(store, a.id, "PAUSE");
    const r = await resume(store, a.id);
    expect(r).toMatchObject({ outcome: "submitted", instance: { state: "SUBMITTED_SUCCESS", pendingControl: "resume", runTimes: 2, endTime: null, message: null } });
    // Applied once: the row is no longer PAUSE.
    expect(await resume(store, a.id)).toEqual({ outcome: "stale" });
  });

  test("SERIAL_WAIT: a resumed instance waits while another runs, keeps its control, and is released in id order", async () => {
    await using store = await freshStore(dialect);
    const { workflow, create } = await setup(store, "SERIAL_WAIT");
    const a = await create();
    await end(store, a.id, "PAUSE");
    const b = await create(); // runs: a is paused
    const c = await create(); // waits behind b
    expect([b.state, c.state]).toEqual(["SUBMITTED_SUCCESS", "SERIAL_WAIT"]);
    const r = await resume(store, a.id);
    expect(r).toMatchObject({ outcome: "queued", blockedBy: b.id, instance: { state: "SERIAL_WAIT", pendingControl: "resume", endTime: null } });
    expect(await store.instances.releaseSerial(workflow.id)).toBeNull(); // b still runs
    await end(store, b.id, "SUCCESS");
    // DS orders the queue by id: the resumed instance takes its original place, ahead of c.
    expect(await store.instances.releaseSerial(workflow.id)).toMatchObject({ id: a.id, state: "SUBMITTED_SUCCESS", pendingControl: "resume" });
    expect((await store.instances.get(c.id))!.state).toBe("SERIAL_WAIT");
  });

  test("SERIAL_WAIT: a queued rerun starts with no start time (it has not started yet)", async () => {
    await using store = await freshStore(dialect);
    const { create } = await setup(store, "SERIAL_WAIT");
    const a = await create();
    await end(store, a.id, "SUCCESS");
    await create();
    const r = await store.instances.restart(a.id, { control: "rerun", from: ["SUCCESS"], epoch: 0, set: { runTimes: 2, endTime: null, startTime: new Date() } });
    expect(r).toMatchObject({ outcome: "queued", instance: { state: "SERIAL_WAIT", pendingControl: "rerun", startTime: null } });
  });

  test("SERIAL_PRIORITY: a resumed instance queues as the newest request; the other waiting ones end STOP naming it", async () => {
    await using store = await freshStore(dialect);
    const { create } = await setup(store, "SERIAL_PRIORITY");
    const a = await create();
    await end(store, a.id, "FAILURE");
    const b = await create(); // runs
    const c = await create(); // waits
    const r = await store.instances.restart(a.id, { control: "recover-failed", from: ["FAILURE"], epoch: 0, set: { runTimes: 2, endTime: null } });
    expect(r).toMatchObject({ outcome: "queued", blockedBy: b.id, instance: { state: "SERIAL_WAIT", pendingControl: "recover-failed" } });
    expect(await store.instances.get(c.id)).toMatchObject({ state: "STOP", message: `stop by serial_priority strategy: workflow instance ${a.id} is newer in the queue` });
    expect((await store.instances.get(b.id))!.state).toBe("SUBMITTED_SUCCESS");
  });

  test("SERIAL_DISCARD: refused while another is active — state unchanged, message and audit row say why; accepted once nothing runs", async () => {
    await using store = await freshStore(dialect);
    const { project, workflow, create } = await setup(store, "SERIAL_DISCARD");
    const a = await create();
    await end(store, a.id, "PAUSE");
    const b = await create();
    expect(await store.instances.firstActive(workflow.id, a.id)).toBe(b.id);
    const r = await resume(store, a.id);
    const message = `resume refused by serial_discard strategy: workflow instance ${b.id} is active; resume again once it has ended`;
    expect(r).toMatchObject({ outcome: "refused", blockedBy: b.id, instance: { state: "PAUSE", message, runTimes: 1 } });
    const audit = (await store.audit.list({ projectId: project.id, ...firstPage })).items.filter((e) => e.action === "instance.control-refused");
    expect(audit.map((e) => [e.objectId, e.details])).toEqual([[String(a.id), { control: "resume", reason: "stop by serial_discard strategy", executionType: "SERIAL_DISCARD", activeInstanceId: b.id }]]);
    await end(store, b.id, "SUCCESS");
    expect(await store.instances.firstActive(workflow.id, a.id)).toBeNull();
    expect(await resume(store, a.id)).toMatchObject({ outcome: "submitted", instance: { state: "SUBMITTED_SUCCESS", message: null } });
  });

  test("two connections resuming two paused instances of a SERIAL_WAIT workflow at once: exactly one is submitted", async () => {
    await using store = await freshStore(dialect);
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    await using _closeOther = { [Symbol.asyncDispose]: () => (other === store ? Promise.resolve() : other.close()) };
    const { create } = await setup(store, "SERIAL_WAIT");
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const x = await create();
      await end(store, x.id, "PAUSE");
      ids.push(x.id);
    }
    const outcomes = await Promise.all(ids.map((id, i) => resume(i % 2 ? other : store, id)));
    expect(outcomes.filter((o) => o.outcome === "submitted")).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === "queued")).toHaveLength(5);
  });
});
