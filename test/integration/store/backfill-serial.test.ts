// How a backfill counts its runs' ends, in the Store (both dialects): PAUSE holds a serial
// backfill, STOP ends it STOPPED (not counted as failed), and its runs pass the workflow's
// execution type — a run discarded by SERIAL_DISCARD at creation is counted in the same advance.

import { describe, expect, test } from "bun:test";
import type { ExecutionType } from "../../../src/core/workflow-schema.ts";
import type { Store, WorkflowInstanceState } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, system as actor, userWithProject } from "./fixtures.ts";

const plan = ["2026-01-01", "2026-01-02", "2026-01-03"].map((d) => new Date(`${d}T00:00:00Z`));

async function setup(store: Store, executionType: ExecutionType, runMode: "serial" | "parallel" = "serial") {
  const { project, actor: owner } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily", "echo hi", { executionType }), owner);
  const b = await store.backfills.create(
    { projectId: project.id, workflowId: workflow.id, scheduleId: null, runMode, maxParallelism: 3, onFailure: "stop", failureStrategy: "END", priority: "MEDIUM", workerGroup: "default", params: {}, plan },
    actor,
  );
  return { workflow, backfillId: b.id };
}

async function end(store: Store, id: number, to: WorkflowInstanceState) {
  const row = (await store.instances.get(id))!;
  expect(await store.instances.transition(id, { from: [row.state], to, epoch: row.epoch, set: { endTime: new Date() } })).not.toBeNull();
}

describe.each(dialects)("backfill ends and serial admission (%s)", (dialect) => {
  test("serial: PAUSE holds the backfill (nothing created, nothing counted); its later SUCCESS moves it on", async () => {
    await using store = await freshStore(dialect);
    const { backfillId } = await setup(store, "PARALLEL");
    const [first] = await store.backfills.advance(backfillId, () => 0);
    await end(store, first!.id, "PAUSE");
    expect(await store.backfills.advance(backfillId, () => 0)).toEqual([]);
    expect(await store.backfills.get(backfillId)).toMatchObject({ state: "RUNNING", created: 1, succeeded: 0, failed: 0 });
    await store.instances.restart(first!.id, { control: "resume", from: ["PAUSE"], epoch: 0 });
    await end(store, first!.id, "SUCCESS");
    expect(await store.backfills.advance(backfillId, () => 0)).toHaveLength(1);
    expect(await store.backfills.get(backfillId)).toMatchObject({ state: "RUNNING", created: 2, succeeded: 1 });
  });

  test("serial: STOP ends the backfill STOPPED and is not counted as failed", async () => {
    await using store = await freshStore(dialect);
    const { backfillId } = await setup(store, "PARALLEL");
    const [first] = await store.backfills.advance(backfillId, () => 0);
    await end(store, first!.id, "STOP");
    expect(await store.backfills.advance(backfillId, () => 0)).toEqual([]);
    expect(await store.backfills.get(backfillId)).toMatchObject({ state: "STOPPED", created: 1, succeeded: 0, failed: 0 });
  });

  test("SERIAL_DISCARD workflow with another run active: the backfill's run is discarded and the backfill ends STOPPED in the same advance", async () => {
    await using store = await freshStore(dialect);
    const { workflow, backfillId } = await setup(store, "SERIAL_DISCARD");
    const manual = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS", executionType: "SERIAL_DISCARD" });
    const [run] = await store.backfills.advance(backfillId, () => 0);
    expect(run).toMatchObject({ state: "STOP", message: `stop by serial_discard strategy: workflow instance ${manual.id} is active`, backfillId });
    expect(await store.backfills.get(backfillId)).toMatchObject({ state: "STOPPED", created: 1, failed: 0 });
  });

  test("SERIAL_WAIT workflow, parallel backfill: one run is let in, the others wait", async () => {
    await using store = await freshStore(dialect);
    const { backfillId } = await setup(store, "SERIAL_WAIT", "parallel");
    const runs = await store.backfills.advance(backfillId, () => 0);
    expect(runs.map((r) => r.state)).toEqual(["SUBMITTED_SUCCESS", "SERIAL_WAIT", "SERIAL_WAIT"]);
  });
});
