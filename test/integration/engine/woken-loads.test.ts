// A burst of wakes (a second's cron fires, a backfill) is loaded with one read of the instances,
// their projects and their task rows for all of them (master/instance-loading.ts loadWoken), not
// three reads per run: counted on the real store the engine uses. Each run still gets its own
// project's parameters, an ended run and an unknown id among the wakes are left alone, and every
// run's task runs exactly once — also when every store connection is killed during the batched read.

import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import type { WorkflowInstance } from "../../../src/store/store.ts";
import { dialects, rawQuery } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";
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

test("every store connection killed during a batched load: the load is read again, each run runs once", async () => {
  await using h = await harness("postgres");
  const { store } = h;
  await h.save({ name: "once", tasks: [{ name: "t", type: "shell", script: "echo ran" }] });
  const wf = (await store.workflows.get(h.projectId, "once"))!;
  const created: WorkflowInstance[] = [];
  for (let i = 0; i < 20; i++) created.push(await store.instances.create({ workflowId: wf.id, slot: i % 8, runType: "START_PROCESS" }));
  // The first batched read of the instances is held by a lock until every connection of the
  // store is killed under it: it fails in flight, as in a Postgres restart.
  let calls = 0;
  const getMany = store.instances.getMany.bind(store.instances);
  store.instances.getMany = async (ids) => {
    if (calls++ > 0) return getMany(ids);
    const admin = postgres(store.url, { max: 1, onnotice: () => {} });
    try {
      return await admin.begin(async (tx) => {
        await tx`LOCK TABLE workflow_instances IN ACCESS EXCLUSIVE MODE`;
        const reading = getMany(ids);
        reading.catch(() => {});
        await waitFor("the batched read to wait on the lock", async () => {
          const [row] = await rawQuery(store.url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
          return Number(row!.n) > 0;
        });
        await tx`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;
        return await reading;
      });
    } finally {
      await admin.end({ timeout: 1 });
    }
  };
  try {
    await h.bus.publishWake({ instanceIds: created.map((i) => i.id) });
    // This test's own reads share the killed pool: one may fail once, and is asked again.
    const ended = async (id: number) => {
      const state = await store.instances.get(id).then((i) => i?.state ?? null, () => null);
      return state === "SUCCESS" || state === "FAILURE" ? state : null;
    };
    for (const i of created) expect(await waitFor(`workflow instance ${i.id} to end`, () => ended(i.id))).toBe("SUCCESS");
  } finally {
    store.instances.getMany = getMany;
  }
  expect(calls).toBeGreaterThanOrEqual(2); // the killed read, then the one that answered
  for (const i of created) expect((await h.tasks(i.id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([["t", 1, "SUCCESS"]]);
});
