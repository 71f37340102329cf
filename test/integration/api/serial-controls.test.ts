// The instance controls of a serial workflow through the HTTP API (engine client only: the
// instances are written through the store): SERIAL_DISCARD refuses resume/rerun/recover-failed
// with 409 while another instance is active, SERIAL_WAIT answers SERIAL_WAIT, and the instance
// view carries timezone, message and pendingControl.

import { describe, expect, test } from "bun:test";
import type { Store, WorkflowInstanceState } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const P = "/api/v1/projects/analytics";

async function setup(h: Harness, executionType: string) {
  expect((await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).status).toBe(201);
  const body = { name: "etl", executionType, tasks: [{ name: "t", type: "shell", script: "echo hi" }] };
  expect((await h.call("POST", `${P}/workflows`, { body })).status).toBe(201);
  const projectId = (await h.call("GET", P)).json.id as number;
  const wf = (await h.store.workflows.get(projectId, "etl"))!;
  return () => h.store.instances.create({ workflowId: wf.id, slot: 0, runType: "START_PROCESS", executionType: executionType as "SERIAL_WAIT" });
}

async function end(store: Store, id: number, to: WorkflowInstanceState) {
  const row = (await store.instances.get(id))!;
  await store.instances.transition(id, { from: [row.state], to, epoch: row.epoch, set: { endTime: new Date() } });
}

describe.each(dialects)("API controls of serial workflows on %s", (dialect) => {
  test("SERIAL_DISCARD: rerun and recover-failed are 409 while another instance is active", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    const create = await setup(h, "SERIAL_DISCARD");
    const a = await create();
    await end(h.store, a.id, "FAILURE");
    const b = await create();
    for (const control of ["rerun", "recover-failed"]) {
      expectError(
        await h.call("POST", `/api/v1/workflow-instances/${a.id}/${control}`),
        409,
        "CONFLICT",
        `cannot ${control} workflow instance ${a.id}: workflow "etl" is SERIAL_DISCARD and workflow instance ${b.id} is active; ${control} again once it has ended`,
      );
    }
    expect((await h.store.commands.listPending(10)).length).toBe(0);
    await end(h.store, b.id, "SUCCESS");
    expect((await h.call("POST", `/api/v1/workflow-instances/${a.id}/rerun`)).json).toEqual({ id: a.id, state: "SUBMITTED_SUCCESS" });
  });

  test("SERIAL_WAIT: resume answers SERIAL_WAIT while another is active; the view shows timezone, message and pendingControl", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    const create = await setup(h, "SERIAL_WAIT");
    const a = await create();
    await end(h.store, a.id, "PAUSE");
    const b = await create();
    expect((await h.call("POST", `/api/v1/workflow-instances/${a.id}/resume`)).json).toEqual({ id: a.id, state: "SERIAL_WAIT" });
    // What the master then writes (no master runs here): the control queued with the instance.
    expect(await h.store.instances.restart(a.id, { control: "resume", from: ["PAUSE"], epoch: 0, set: { endTime: null } })).toMatchObject({ outcome: "queued", blockedBy: b.id });
    const view = (await h.call("GET", `/api/v1/workflow-instances/${a.id}`)).json;
    expect(view).toMatchObject({ state: "SERIAL_WAIT", timezone: "UTC", message: null, pendingControl: "resume" });
    const listed = (await h.call("GET", `${P}/workflow-instances`)).json.items as { id: number; pendingControl: string | null }[];
    expect(listed.find((i) => i.id === b.id)).toMatchObject({ pendingControl: null, timezone: "UTC", message: null });
  });
});
