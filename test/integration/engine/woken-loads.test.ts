// A burst of wakes (a second's cron fires, a backfill) is loaded with one read of the instances,
// their projects and their task rows for all of them (master/instance-loading.ts loadWoken), not
// three reads per run: counted on the real store the engine uses. Each run still gets its own
// project's parameters, an ended run and an unknown id among the wakes are left alone, and every
// run's task runs exactly once.

import { describe, expect, test } from "bun:test";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import type { WorkflowInstance } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

describe.each(dialects)("woken runs loaded together (%s)", (dialect) => {
  test("32 runs woken in one turn (one wake naming 15, the others one each): a few batched reads, each run with its own project's params, ended and unknown ids left alone", async () => {
    await using h = await harness(dialect);
    const { store } = h;
    await store.projects.update(h.projectId, { params: { region: "us" } }, h.actor);
    const ml = await store.projects.create({ name: "ml", description: "", ownerId: h.actor.userId! }, h.actor);
    await store.projects.update(ml.id, { params: { region: "eu" } }, h.actor);
    // The task fails unless it sees its own project's region.
    const check = (name: string, region: string) => ({ name, tasks: [{ name: "check", type: "shell", script: `test "\${region}" = "${region}"` }] });
    await h.save(check("in-us", "us"));
    const { workflow: inEu } = await store.workflows.create(ml.id, parseWorkflowDefinition(check("in-eu", "eu")), h.actor);
    const inUs = (await store.workflows.get(h.projectId, "in-us"))!;

    const created: WorkflowInstance[] = [];
    for (let i = 0; i < 30; i++) {
      const wf = i % 2 === 0 ? inUs : inEu;
      created.push(await store.instances.create({ workflowId: wf.id, slot: i % 8, runType: "START_PROCESS" }));
    }
    const ended = await store.instances.create({ workflowId: inUs.id, slot: 1, runType: "START_PROCESS", state: "SUCCESS" });
    const unknown = ended.id + 1000;

    // Counted on the store object the engine reads through (the real one, wrapped).
    const batches: number[][] = [];
    const singles: number[] = [];
    const getMany = store.instances.getMany.bind(store.instances);
    const get = store.instances.get.bind(store.instances);
    store.instances.getMany = (ids) => (batches.push([...ids]), getMany(ids));
    store.instances.get = (id) => (singles.push(id), get(id));
    try {
      // Half named by one wake (a scheduler's fire batch), half one wake each (API runs).
      await h.bus.publishWake({ instanceIds: created.slice(0, 15).map((i) => i.id) });
      for (const i of created.slice(15)) await h.bus.publishWake({ instanceId: i.id });
      await h.bus.publishWake({ instanceId: ended.id });
      await h.bus.publishWake({ instanceId: unknown });

      for (const i of created) expect((await h.waitState(i.id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    } finally {
      store.instances.getMany = getMany;
      store.instances.get = get;
    }
    const loaded = batches.flat();
    expect(loaded.sort((a, b) => a - b)).toEqual([...created.map((i) => i.id), ended.id, unknown].sort((a, b) => a - b));
    expect(batches.length).toBeLessThanOrEqual(3);
    // The loads read no instance one by one.
    expect(singles.filter((id) => id === unknown || id === ended.id)).toEqual([]);
    for (const i of created) expect((await h.tasks(i.id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([["check", 1, "SUCCESS"]]);
    expect(await h.tasks(ended.id)).toEqual([]);
    expect((await store.instances.get(ended.id))!.state).toBe("SUCCESS");
  });
});
