import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError } from "../../../src/core/errors.ts";
import { openStore } from "../../../src/store/open.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function onlineWorkflow(store: Store, name = "daily") {
  const ctx = await userWithProject(store);
  const { workflow } = await store.workflows.create(ctx.project.id, definition(name), ctx.actor);
  return { ...ctx, workflow };
}

describe.each(dialects)("workflow instances on %s", (dialect) => {
  test("create inserts an instance of the current version with the run options; get reads it back", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await onlineWorkflow(store);
    await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v2"), actor);
    const wi = await store.instances.create({
      workflowId: workflow.id,
      slot: 7,
      runType: "START_PROCESS",
      params: { day: "2024-01-01" },
      startTasks: ["extract"],
      dependType: "TASK_POST",
      failureStrategy: "CONTINUE",
      priority: "HIGH",
      workerGroup: "etl",
      dryRun: true,
    });
    expect(wi).toMatchObject({
      projectId: project.id,
      workflowId: workflow.id,
      workflowVersion: 2,
      state: "SUBMITTED_SUCCESS",
      slot: 7,
      epoch: 0,
      params: { day: "2024-01-01" },
      startTasks: ["extract"],
      dependType: "TASK_POST",
      failureStrategy: "CONTINUE",
      priority: "HIGH",
      workerGroup: "etl",
      dryRun: true,
      runTimes: 1,
      startTime: null,
    });
    // get joins the workflow's name in (for display); otherwise it is the created row.
    expect(await store.instances.get(wi.id)).toEqual({ ...wi, workflowName: "daily" });
    expect(await store.instances.get(9999)).toBeNull();
    const v1 = await store.instances.create({ workflowId: workflow.id, version: 1, slot: (id) => id % 4, runType: "START_PROCESS" });
    expect(v1).toMatchObject({ workflowVersion: 1, slot: v1.id % 4, startTasks: null, dependType: null, failureStrategy: "END" });
    await expect(store.instances.create({ workflowId: workflow.id, version: 5, slot: 0, runType: "START_PROCESS" })).rejects.toThrow(
      'workflow "daily" has no version 5 (its versions are 1 to 2)',
    );
    await expect(store.instances.create({ workflowId: 4242, slot: 0, runType: "START_PROCESS" })).rejects.toBeInstanceOf(NotFoundError);
  });

  // The API's run (slot a function of the id; one statement on Postgres, see instance-create-sql.ts).
  test("create with a slot function stores every run option and the slot of its id; refusals are the transaction's", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await onlineWorkflow(store);
    await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v2"), actor);
    const options = {
      runType: "START_PROCESS",
      params: { day: "2024-01-01" },
      startTasks: ["extract"],
      dependType: "TASK_POST" as const,
      failureStrategy: "CONTINUE" as const,
      priority: "HIGH" as const,
      workerGroup: "etl",
      dryRun: true,
      timezone: "Europe/Paris",
      host: "h1",
      scheduleTime: new Date("2024-03-31T02:30:00.123Z"),
      state: "SUBMITTED_SUCCESS" as const,
      epoch: 3,
    };
    const wi = await store.instances.create({ workflowId: workflow.id, slot: (id) => (id * 7) % 64, ...options });
    expect(wi).toMatchObject({ ...options, projectId: project.id, workflowId: workflow.id, workflowVersion: 2, state: "SUBMITTED_SUCCESS", slot: (wi.id * 7) % 64 });
    expect(wi).toMatchObject({ runTimes: 1, startTime: null, endTime: null, message: null, commandId: null, scheduleId: null, pendingControl: null });
    expect(await store.instances.get(wi.id)).toEqual({ ...wi, workflowName: "daily" });
    const plain = await store.instances.create({ workflowId: workflow.id, version: 1, slot: (id) => id % 4, runType: "START_PROCESS" });
    expect(plain).toMatchObject({ workflowVersion: 1, slot: plain.id % 4, params: {}, startTasks: null, dependType: null, failureStrategy: "END", priority: "MEDIUM", workerGroup: "default", dryRun: false, timezone: "UTC", host: null });
    expect(plain.id).toBeGreaterThan(wi.id);

    const slot = (id: number) => id % 4;
    await expect(store.instances.create({ workflowId: workflow.id, version: 5, slot, runType: "START_PROCESS" })).rejects.toThrow('workflow "daily" has no version 5 (its versions are 1 to 2)');
    await expect(store.instances.create({ workflowId: 4242, slot, runType: "START_PROCESS" })).rejects.toBeInstanceOf(NotFoundError);
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    await expect(store.instances.create({ workflowId: workflow.id, slot, runType: "START_PROCESS" })).rejects.toThrow('workflow "daily" is OFFLINE: bring it ONLINE to run it');
    expect((await store.instances.list({ projectId: project.id, limit: 10, offset: 0 })).total).toBe(2);
  });

  test("an OFFLINE workflow is refused with ConflictError, and nothing is stored", async () => {
    await using store = await freshStore(dialect);
    const { actor, workflow } = await onlineWorkflow(store);
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    const attempt = store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('workflow "daily" is OFFLINE: bring it ONLINE to run it');
    expect(await rawQuery(store.url, "SELECT id FROM workflow_instances")).toEqual([]);
  });

  test("create consumes its START command in the same transaction, exactly once", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await onlineWorkflow(store);
    const cmd = await store.commands.enqueue({ type: "START", projectId: project.id, workflowId: workflow.id }, actor);
    const wi = await store.instances.create({ workflowId: workflow.id, slot: 1, runType: "START_PROCESS", consumeCommand: { id: cmd.id, consumer: "m1" } });
    expect(wi.commandId).toBe(cmd.id);
    expect(await store.commands.get(cmd.id)).toMatchObject({ state: "CONSUMED", consumedBy: "m1" });
    const again = store.instances.create({ workflowId: workflow.id, slot: 1, runType: "START_PROCESS", consumeCommand: { id: cmd.id, consumer: "m2" } });
    await expect(again).rejects.toThrow(`command ${cmd.id} was consumed already`);
    // A refused create (OFFLINE) leaves its command PENDING.
    const cmd2 = await store.commands.enqueue({ type: "START", projectId: project.id, workflowId: workflow.id }, actor);
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    await expect(store.instances.create({ workflowId: workflow.id, slot: 1, runType: "START_PROCESS", consumeCommand: { id: cmd2.id, consumer: "m1" } })).rejects.toBeInstanceOf(ConflictError);
    expect((await store.commands.get(cmd2.id))?.state).toBe("PENDING");
    expect((await store.instances.list({ projectId: project.id, limit: 10, offset: 0 })).total).toBe(1);
  });

  test("instance creation racing OFFLINE + delete: exactly one side wins, no instance without its workflow", async () => {
    await using store = await freshStore(dialect);
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    try {
      const { project, actor } = await userWithProject(store);
      for (let round = 0; round < 6; round++) {
        const { workflow } = await store.workflows.create(project.id, definition(`wf${round}`), actor);
        // Half with a slot function: on Postgres those are the one-statement create (instance-create-sql.ts).
        const creates = Array.from({ length: 4 }, (_, k) =>
          other.instances.create({ workflowId: workflow.id, slot: k % 2 === 0 ? 0 : (id) => id % 4, runType: "START_PROCESS" }).then(
            () => "created" as const,
            (err) => (err instanceof ConflictError || err instanceof NotFoundError ? ("refused" as const) : Promise.reject(err)),
          ),
        );
        const removal = store.workflows
          .setReleaseState(workflow.id, "OFFLINE", actor)
          .then(() => store.workflows.delete(workflow.id, actor))
          .then(
            () => "deleted" as const,
            (err) => (err instanceof ConflictError ? ("refused" as const) : Promise.reject(err)),
          );
        const [deleted, ...created] = await Promise.all([removal, ...creates]);
        const instances = await rawQuery(store.url, `SELECT count(*) AS n FROM workflow_instances WHERE workflow_id = ${workflow.id}`);
        const stored = Number(instances[0]!.n);
        const definitionRows = await rawQuery(store.url, `SELECT count(*) AS n FROM workflow_definitions WHERE id = ${workflow.id}`);
        if (deleted === "deleted") {
          expect(created.every((c) => c === "refused")).toBe(true);
          expect(Number(definitionRows[0]!.n)).toBe(0);
        } else {
          expect(created.filter((c) => c === "created").length).toBeGreaterThan(0);
          expect(Number(definitionRows[0]!.n)).toBe(1);
        }
        expect(stored).toBe(created.filter((c) => c === "created").length);
      }
    } finally {
      if (other !== store) await other.close();
    }
  });

  test("transition is fenced: wrong state or an older epoch changes nothing and returns null", async () => {
    await using store = await freshStore(dialect);
    const { workflow } = await onlineWorkflow(store);
    const wi = await store.instances.create({ workflowId: workflow.id, slot: 3, runType: "START_PROCESS", epoch: 2 });
    const start = new Date("2024-05-01T10:00:00.123Z");
    expect(await store.instances.transition(wi.id, { from: ["RUNNING_EXECUTION"], to: "SUCCESS", epoch: 2 })).toBeNull();
    expect(await store.instances.transition(wi.id, { from: ["SUBMITTED_SUCCESS"], to: "RUNNING_EXECUTION", epoch: 1 })).toBeNull();
    expect(await store.instances.transition(wi.id, { from: [], to: "RUNNING_EXECUTION", epoch: 2 })).toBeNull();
    expect(await store.instances.transition(9999, { from: ["SUBMITTED_SUCCESS"], to: "RUNNING_EXECUTION", epoch: 2 })).toBeNull();
    expect(await store.instances.get(wi.id)).toEqual({ ...wi, workflowName: "daily" });
    const running = await store.instances.transition(wi.id, { from: ["SUBMITTED_SUCCESS"], to: "RUNNING_EXECUTION", epoch: 2, set: { startTime: start, host: "node-a" } });
    expect(running).toMatchObject({ state: "RUNNING_EXECUTION", epoch: 2, startTime: start, host: "node-a" });
    // A takeover: the new owner (epoch 5) adopts the instance; the old owner's writes are refused from then on.
    expect(await store.instances.transition(wi.id, { from: ["RUNNING_EXECUTION"], to: "RUNNING_EXECUTION", epoch: 5, set: { host: "node-b" } })).toMatchObject({ epoch: 5, host: "node-b" });
    expect(await store.instances.transition(wi.id, { from: ["RUNNING_EXECUTION"], to: "FAILURE", epoch: 2 })).toBeNull();
    const end = new Date("2024-05-01T10:05:00Z");
    expect(await store.instances.transition(wi.id, { from: ["RUNNING_EXECUTION", "READY_STOP"], to: "SUCCESS", epoch: 5, set: { endTime: end } })).toMatchObject({ state: "SUCCESS", endTime: end, startTime: start });
    expect((await store.instances.get(wi.id))?.state).toBe("SUCCESS");
  });

  test("list filters by workflow, state and time range with paging and a total; listActive finds non-terminal ones by slot", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await onlineWorkflow(store);
    const { workflow: weekly } = await store.workflows.create(project.id, definition("weekly"), actor);
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await store.instances.create({ workflowId: i % 2 ? weekly.id : workflow.id, slot: i, runType: "START_PROCESS" }));
    await store.instances.transition(made[1]!.id, { from: ["SUBMITTED_SUCCESS"], to: "SUCCESS", epoch: 0 });
    await store.instances.transition(made[2]!.id, { from: ["SUBMITTED_SUCCESS"], to: "PAUSE", epoch: 0 });
    const ids = (page: { items: { id: number }[] }) => page.items.map((w) => w.id);
    const all = await store.instances.list({ projectId: project.id, limit: 2, offset: 0 });
    expect({ ids: ids(all), total: all.total }).toEqual({ ids: [made[4]!.id, made[3]!.id], total: 5 });
    expect(all.items.map((w) => w.workflowName)).toEqual(["daily", "weekly"]);
    expect(ids(await store.instances.list({ projectId: project.id, limit: 2, offset: 4 }))).toEqual([made[0]!.id]);
    expect(ids(await store.instances.list({ projectId: project.id, workflowId: weekly.id, limit: 10, offset: 0 }))).toEqual([made[3]!.id, made[1]!.id]);
    const active = await store.instances.list({ projectId: project.id, states: ["SUBMITTED_SUCCESS", "SUCCESS"], limit: 10, offset: 0 });
    expect({ ids: ids(active), total: active.total }).toEqual({ ids: [made[4]!.id, made[3]!.id, made[1]!.id, made[0]!.id], total: 4 });
    expect((await store.instances.list({ projectId: project.id, states: [], limit: 10, offset: 0 })).total).toBe(0);
    const created = made[2]!.createdAt;
    expect(ids(await store.instances.list({ projectId: project.id, from: new Date(created.getTime() + 3_600_000), limit: 10, offset: 0 }))).toEqual([]);
    expect((await store.instances.list({ projectId: project.id, from: new Date(created.getTime() - 3_600_000), to: new Date(created.getTime() + 3_600_000), limit: 10, offset: 0 })).total).toBe(5);
    expect((await store.instances.list({ projectId: project.id, to: new Date(made[0]!.createdAt.getTime()), limit: 10, offset: 0 })).total).toBe(0);
    expect((await store.instances.list({ projectId: 9999, limit: 10, offset: 0 })).total).toBe(0);

    expect((await store.instances.listActive()).map((w) => w.id)).toEqual([made[0]!.id, made[3]!.id, made[4]!.id]);
    expect((await store.instances.listActive({ slots: [3, 4, 1] })).map((w) => w.id)).toEqual([made[3]!.id, made[4]!.id]);
    expect(await store.instances.listActive({ slots: [] })).toEqual([]);
  });
});
