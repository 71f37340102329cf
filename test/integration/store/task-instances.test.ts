import { describe, expect, test } from "bun:test";
import { StoreError } from "../../../src/core/errors.ts";
import type { Store, TaskAttemptInsert } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function runningInstance(store: Store, epoch = 1) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  const wi = await store.instances.create({ workflowId: workflow.id, slot: 2, epoch, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
  return wi;
}

function attempt(workflowInstanceId: number, taskName: string, extra: Partial<TaskAttemptInsert> = {}): TaskAttemptInsert {
  return {
    op: "insert",
    workflowInstanceId,
    taskName,
    taskType: "shell",
    attempt: 1,
    state: "DISPATCH",
    dispatchToken: `tok-${taskName}-${extra.attempt ?? 1}`,
    slot: 2,
    epoch: 1,
    submitTime: new Date("2024-05-01T00:00:00Z"),
    ...extra,
  };
}

describe.each(dialects)("task instances on %s", (dialect) => {
  test("dispatchedByGroup counts attempts in DISPATCH per worker group, nothing else", async () => {
    await using store = await freshStore(dialect);
    expect(await store.taskInstances.dispatchedByGroup()).toEqual({});
    const wi = await runningInstance(store);
    await store.taskInstances.applyBatch([
      attempt(wi.id, "a", { workerGroup: "etl" }),
      attempt(wi.id, "b", { workerGroup: "etl" }),
      attempt(wi.id, "c"),
      attempt(wi.id, "d", { workerGroup: "gpu", state: "DELAY_EXECUTION", notBefore: new Date("2024-05-01T00:01:00Z") }),
      attempt(wi.id, "e", { workerGroup: "gpu", state: "RUNNING_EXECUTION" }),
    ]);
    expect(await store.taskInstances.dispatchedByGroup()).toEqual({ etl: 2, default: 1 });
  });

  test("inserts new attempts, reads them back; listForInstance orders by task then attempt", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store);
    const notBefore = new Date("2024-05-01T00:01:00Z");
    const out = await store.taskInstances.applyBatch([
      attempt(wi.id, "load", { params: { a: "1" }, priority: "HIGH", workerGroup: "etl" }),
      attempt(wi.id, "extract"),
      attempt(wi.id, "extract", { attempt: 2, state: "DELAY_EXECUTION", notBefore }),
    ]);
    expect(out.map((o) => o.outcome)).toEqual(["applied", "applied", "applied"]);
    const id = (o: (typeof out)[number]) => (o.outcome === "applied" ? o.id : -1);
    const load = await store.taskInstances.get(id(out[0]!));
    expect(load).toMatchObject({
      workflowInstanceId: wi.id,
      taskName: "load",
      taskType: "shell",
      attempt: 1,
      state: "DISPATCH",
      dispatchToken: "tok-load-1",
      slot: 2,
      epoch: 1,
      workerGroup: "etl",
      priority: "HIGH",
      params: { a: "1" },
      output: null,
      host: null,
      notBefore: null,
      submitTime: new Date("2024-05-01T00:00:00Z"),
    });
    const listed = await store.taskInstances.listForInstance(wi.id);
    expect(listed.map((t) => [t.taskName, t.attempt, t.state, t.notBefore])).toEqual([
      ["extract", 1, "DISPATCH", null],
      ["extract", 2, "DELAY_EXECUTION", notBefore],
      ["load", 1, "DISPATCH", null],
    ]);
    expect(await store.taskInstances.get(9999)).toBeNull();
    expect(await store.taskInstances.listForInstance(9999)).toEqual([]);
  });

  test("updates apply only when id, attempt, token and state all match; complete() reports stale ones", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store);
    const [ins] = await store.taskInstances.applyBatch([attempt(wi.id, "extract")]);
    const id = ins!.outcome === "applied" ? ins!.id : -1;
    const before = await store.taskInstances.get(id);
    const start = new Date("2024-05-01T00:00:05Z");
    const running = { op: "update" as const, id, attempt: 1, token: "tok-extract-1", from: ["DISPATCH" as const], to: "RUNNING_EXECUTION" as const, set: { host: "w1", startTime: start, logPath: "/logs/1" } };
    const refused = await store.taskInstances.applyBatch([
      { ...running, token: "forged" },
      { ...running, token: null },
      { ...running, attempt: 2 },
      { ...running, id: 9999 },
      { ...running, from: ["RUNNING_EXECUTION"] },
      { ...running, from: [] },
    ]);
    expect(refused.map((o) => o.outcome)).toEqual(["stale", "stale", "stale", "stale", "stale", "stale"]);
    expect(await store.taskInstances.get(id)).toEqual(before);
    expect((await store.taskInstances.applyBatch([running]))[0]).toEqual({ outcome: "applied", id });
    expect(await store.taskInstances.get(id)).toMatchObject({ state: "RUNNING_EXECUTION", host: "w1", startTime: start, logPath: "/logs/1" });

    const end = new Date("2024-05-01T00:00:09Z");
    const done = { id, attempt: 1, token: "tok-extract-1", state: "SUCCESS" as const, output: { rows: "12" }, exitCode: 0, endTime: end };
    expect(await store.taskInstances.complete({ ...done, token: "tok-other" })).toBe("stale");
    expect(await store.taskInstances.complete({ ...done, attempt: 2 })).toBe("stale");
    expect(await store.taskInstances.complete(done)).toBe("applied");
    // At-least-once delivery: the same completion again, or a late contradicting one, is stale.
    expect(await store.taskInstances.complete(done)).toBe("stale");
    expect(await store.taskInstances.complete({ ...done, state: "FAILURE", exitCode: 1 })).toBe("stale");
    expect(await store.taskInstances.get(id)).toMatchObject({ state: "SUCCESS", output: { rows: "12" }, exitCode: 0, endTime: end, startTime: start, host: "w1" });
  });

  test("a batch mixes applied, stale and duplicate outcomes in op order, and instance transitions commit with it", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store);
    const first = await store.taskInstances.applyBatch([attempt(wi.id, "a"), attempt(wi.id, "b")]);
    const [a, b] = first.map((o) => (o.outcome === "applied" ? o.id : -1));
    const out = await store.taskInstances.applyBatch([
      { op: "update", id: a!, attempt: 1, token: "tok-a-1", from: ["DISPATCH"], to: "SUCCESS", set: { endTime: new Date(), exitCode: 0 } },
      attempt(wi.id, "a"),
      { op: "update", id: b!, attempt: 1, token: "wrong", from: ["DISPATCH"], to: "FAILURE" },
      attempt(wi.id, "c"),
      attempt(wi.id, "c"),
      { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "READY_STOP", epoch: 1 },
      { op: "instance", id: wi.id, from: ["SUBMITTED_SUCCESS"], to: "SUCCESS", epoch: 1 },
      attempt(wi.id, "b", { attempt: 2, epoch: 0 }),
    ]);
    expect(out.map((o) => o.outcome)).toEqual(["applied", "duplicate", "stale", "applied", "duplicate", "applied", "stale", "stale"]);
    expect((await store.taskInstances.listForInstance(wi.id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([
      ["a", 1, "SUCCESS"],
      ["b", 1, "DISPATCH"],
      ["c", 1, "DISPATCH"],
    ]);
    expect((await store.instances.get(wi.id))?.state).toBe("READY_STOP");
  });

  test("instance transitions in a batch write their columns, in op order; a newer epoch on the row makes one stale; other columns go through too", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store, 2);
    const start = new Date("2024-05-01T00:00:00.123Z");
    const end = new Date("2024-05-01T00:05:00.456Z");
    const out = await store.taskInstances.applyBatch([
      { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "READY_STOP", epoch: 2, set: { startTime: start, host: "h1", endTime: null } },
      { op: "instance", id: wi.id, from: ["READY_STOP"], to: "FAILURE", epoch: 2, set: { endTime: end, message: "timed out" } },
      { op: "instance", id: wi.id, from: ["FAILURE"], to: "SUCCESS", epoch: 1 },
    ]);
    expect(out.map((o) => o.outcome)).toEqual(["applied", "applied", "stale"]);
    const row = await store.instances.get(wi.id);
    expect([row?.state, row?.epoch, row?.startTime?.toISOString(), row?.host, row?.endTime?.toISOString(), row?.message]).toEqual([
      "FAILURE",
      2,
      start.toISOString(),
      "h1",
      end.toISOString(),
      "timed out",
    ]);
    const [other] = await store.taskInstances.applyBatch([{ op: "instance", id: wi.id, from: ["FAILURE"], to: "SUBMITTED_SUCCESS", epoch: 2, set: { runTimes: 5, endTime: null } }]);
    expect(other?.outcome).toBe("applied");
    const again = await store.instances.get(wi.id);
    expect([again?.state, again?.runTimes, again?.endTime]).toEqual(["SUBMITTED_SUCCESS", 5, null]);
  });

  test("epoch fencing: after a takeover the old owner's inserts and fenced updates are stale", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store, 1);
    const [ins] = await store.taskInstances.applyBatch([attempt(wi.id, "a", { epoch: 1 })]);
    const id = ins!.outcome === "applied" ? ins!.id : -1;
    // The new owner writes with epoch 2 (here by adding an attempt), which fences the instance.
    expect((await store.taskInstances.applyBatch([attempt(wi.id, "b", { epoch: 2 })]))[0]?.outcome).toBe("applied");
    expect((await store.instances.get(wi.id))?.epoch).toBe(2);
    const stale = await store.taskInstances.applyBatch([
      attempt(wi.id, "c", { epoch: 1 }),
      { op: "update", id, attempt: 1, token: "tok-a-1", from: ["DISPATCH"], to: "KILL", fence: { workflowInstanceId: wi.id, epoch: 1 } },
      { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "STOP", epoch: 1 },
    ]);
    expect(stale.map((o) => o.outcome)).toEqual(["stale", "stale", "stale"]);
    const fresh = await store.taskInstances.applyBatch([
      { op: "update", id, attempt: 1, token: "tok-a-1", from: ["DISPATCH"], to: "KILL", fence: { workflowInstanceId: wi.id, epoch: 2 } },
    ]);
    expect(fresh).toEqual([{ outcome: "applied", id }]);
    expect(await store.taskInstances.get(id)).toMatchObject({ state: "KILL", epoch: 2 });
    expect((await store.taskInstances.listForInstance(wi.id)).map((t) => t.taskName)).toEqual(["a", "b"]);
  });

  test("one batch fencing many instances: each instance's ops hold or go stale on their own", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("many"), actor);
    const wis = [];
    for (let i = 0; i < 6; i++) wis.push(await store.instances.create({ workflowId: workflow.id, slot: 2, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" }));
    // Instances 1 and 4 were taken over (epoch 2) before this master's batch (epoch 1).
    for (const i of [1, 4]) await store.taskInstances.applyBatch([attempt(wis[i]!.id, "other", { epoch: 2 })]);
    const out = await store.taskInstances.applyBatch(wis.flatMap((wi) => [attempt(wi.id, "a"), attempt(wi.id, "b")]).reverse());
    const stale = new Set([wis[1]!.id, wis[4]!.id]);
    const expected: string[] = wis.flatMap((wi) => [stale.has(wi.id) ? "stale" : "applied", stale.has(wi.id) ? "stale" : "applied"]).reverse();
    expect(out.map((o) => o.outcome as string)).toEqual(expected);
    for (const wi of wis) expect((await store.instances.get(wi.id))?.epoch).toBe(stale.has(wi.id) ? 2 : 1);
  });

  test("two connections fencing the same instances in opposite orders at once: both batches apply, no deadlock", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("race"), actor);
    const wis = [];
    for (let i = 0; i < 20; i++) wis.push(await store.instances.create({ workflowId: workflow.id, slot: 2, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" }));
    for (let round = 0; round < 5; round++) {
      const forward = wis.map((wi) => attempt(wi.id, `f${round}`));
      const backward = [...wis].reverse().map((wi) => attempt(wi.id, `r${round}`));
      const outs = await Promise.all([store.taskInstances.applyBatch(forward), store.taskInstances.applyBatch(backward)]);
      for (const out of outs) expect(out.every((o) => o.outcome === "applied")).toBe(true);
    }
  });

  test("a batch that hits a real error (a constraint) rolls back entirely; an unknown instance is only stale", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store);
    const [ins] = await store.taskInstances.applyBatch([attempt(wi.id, "a")]);
    const id = ins!.outcome === "applied" ? ins!.id : -1;
    expect((await store.taskInstances.applyBatch([attempt(wi.id + 1000, "x")]))[0]).toEqual({ outcome: "stale" });
    const failing = store.taskInstances.applyBatch([
      { op: "update", id, attempt: 1, token: "tok-a-1", from: ["DISPATCH"], to: "SUCCESS" },
      attempt(wi.id, "b"),
      { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "SUCCESS", epoch: 1 },
      // The fence holds but the row breaks a constraint (NOT NULL task_type): everything above is undone.
      attempt(wi.id, "c", { taskType: null as unknown as string }),
    ]);
    await expect(failing).rejects.toBeInstanceOf(StoreError);
    expect((await store.taskInstances.listForInstance(wi.id)).map((t) => [t.taskName, t.state])).toEqual([["a", "DISPATCH"]]);
    expect((await store.instances.get(wi.id))?.state).toBe("RUNNING_EXECUTION");
  });

  test("markInterrupted turns in-flight attempts of a host (or all) into NEED_FAULT_TOLERANCE and returns them", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store);
    const out = await store.taskInstances.applyBatch(["a", "b", "c", "d", "e"].map((n) => attempt(wi.id, n)));
    const [a, b, c, d, e] = out.map((o) => (o.outcome === "applied" ? o.id : -1));
    const run = (id: number, name: string, host: string) =>
      ({ op: "update", id, attempt: 1, token: `tok-${name}-1`, from: ["DISPATCH"], to: "RUNNING_EXECUTION", set: { host } }) as const;
    await store.taskInstances.applyBatch([run(a!, "a", "w1"), run(b!, "b", "w2"), run(c!, "c", "w1")]);
    await store.taskInstances.complete({ id: c!, attempt: 1, token: "tok-c-1", state: "SUCCESS", endTime: new Date() });
    // a: RUNNING on w1, b: RUNNING on w2, c: SUCCESS, d and e: DISPATCH (no host yet).
    expect((await store.taskInstances.markInterrupted({ host: "w1", slots: [] })).length).toBe(0);
    expect((await store.taskInstances.markInterrupted({ host: "w1" })).map((t) => [t.id, t.state])).toEqual([[a!, "NEED_FAULT_TOLERANCE"]]);
    expect((await store.taskInstances.markInterrupted({ all: true, slots: [5] })).length).toBe(0);
    expect((await store.taskInstances.listInFlight({ slots: [5] })).length).toBe(0);
    expect((await store.taskInstances.listInFlight({})).map((t) => [t.id, t.state])).toEqual([
      [b!, "RUNNING_EXECUTION"],
      [d!, "DISPATCH"],
      [e!, "DISPATCH"],
    ]);
    // Kept: attempts whose process a restarted worker adopted.
    expect((await store.taskInstances.markInterrupted({ all: true, slots: [2], keep: [d!] })).map((t) => t.id)).toEqual([b!, e!]);
    expect((await store.taskInstances.listInFlight({ slots: [2] })).map((t) => t.id)).toEqual([d!]);
    expect((await store.taskInstances.markInterrupted({ all: true, slots: [2] })).map((t) => t.id)).toEqual([d!]);
    expect(await store.taskInstances.markInterrupted({ all: true })).toEqual([]);
    expect((await store.taskInstances.listForInstance(wi.id)).map((t) => t.state)).toEqual([
      "NEED_FAULT_TOLERANCE",
      "NEED_FAULT_TOLERANCE",
      "SUCCESS",
      "NEED_FAULT_TOLERANCE",
      "NEED_FAULT_TOLERANCE",
    ]);
  });

  test("an empty batch is a no-op; 1,200 inserts and their completions go through in two batches", async () => {
    await using store = await freshStore(dialect);
    const wi = await runningInstance(store);
    expect(await store.taskInstances.applyBatch([])).toEqual([]);
    const names = Array.from({ length: 1200 }, (_, i) => `t${String(i).padStart(4, "0")}`);
    const inserted = await store.taskInstances.applyBatch(names.map((n) => attempt(wi.id, n)));
    expect(inserted.every((o) => o.outcome === "applied")).toBe(true);
    const ids = inserted.map((o) => (o.outcome === "applied" ? o.id : -1));
    expect(new Set(ids).size).toBe(1200);
    const completed = await store.taskInstances.applyBatch(
      ids.map((id, i) => ({ op: "update", id, attempt: 1, token: `tok-${names[i]}-1`, from: ["DISPATCH"], to: "SUCCESS" }) as const),
    );
    expect(completed.map((o) => o.outcome)).toEqual(ids.map(() => "applied"));
    const rows = await store.taskInstances.listForInstance(wi.id);
    expect(rows.map((r) => [r.id, r.state])).toEqual(ids.map((id) => [id, "SUCCESS"]));
  });
});
