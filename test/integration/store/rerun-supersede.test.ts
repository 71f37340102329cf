// A rerun supersedes every attempt the instance had, in the transaction that submits it (issue 9
// item 10): resume, recover-failed and restart recovery then see only the new run's attempts.
// Seen failing before the fix: the rows kept superseded = false (the column did not exist).

import { describe, expect, test } from "bun:test";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

describe.each(dialects)("rerun supersedes earlier attempts (%s)", (dialect) => {
  test("rerun marks them; resume and recover-failed do not; a refused rerun changes nothing", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    const instance = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
    const insert = (taskName: string, attempt: number, state: "SUCCESS" | "FAILURE") =>
      store.taskInstances.applyBatch([{ op: "insert", workflowInstanceId: instance.id, taskName, taskType: "shell", attempt, state, dispatchToken: `t${attempt}`, slot: 0, epoch: 0 }]);
    await insert("a", 1, "SUCCESS");
    await insert("b", 1, "FAILURE");
    await store.instances.transition(instance.id, { from: ["SUBMITTED_SUCCESS"], to: "FAILURE", epoch: 0 });
    const flags = async () => (await store.taskInstances.listForInstance(instance.id)).map((t) => [t.taskName, t.attempt, t.superseded]);

    expect((await store.instances.restart(instance.id, { control: "recover-failed", from: ["FAILURE"], epoch: 0 })).outcome).toBe("submitted");
    expect(await flags()).toEqual([["a", 1, false], ["b", 1, false]]);
    await store.instances.transition(instance.id, { from: ["SUBMITTED_SUCCESS"], to: "FAILURE", epoch: 0 });

    // Stale (the instance is not in `from`): nothing is superseded.
    expect((await store.instances.restart(instance.id, { control: "rerun", from: ["STOP"], epoch: 0 })).outcome).toBe("stale");
    expect(await flags()).toEqual([["a", 1, false], ["b", 1, false]]);

    expect((await store.instances.restart(instance.id, { control: "rerun", from: ["FAILURE"], epoch: 0 })).outcome).toBe("submitted");
    expect(await flags()).toEqual([["a", 1, true], ["b", 1, true]]);
    await insert("a", 2, "SUCCESS");
    await store.instances.transition(instance.id, { from: ["SUBMITTED_SUCCESS"], to: "STOP", epoch: 0 });
    expect((await store.instances.restart(instance.id, { control: "resume", from: ["STOP"], epoch: 0 })).outcome).toBe("submitted");
    expect(await flags()).toEqual([["a", 1, true], ["a", 2, false], ["b", 1, true]]);
  });
});
