// The serial queue in the Store: admission at create (run / wait / discard), release of the
// oldest waiting instance only when nothing of the workflow runs, stop of a waiting one,
// schedule fires under the same rules, and two store connections racing to create.

import { describe, expect, test } from "bun:test";
import type { ExecutionType } from "../../../src/core/workflow-schema.ts";
import { openStore } from "../../../src/store/open.ts";
import type { Store, WorkflowInstanceState } from "../../../src/store/store.ts";
import postgres from "postgres";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, firstPage, userWithProject } from "./fixtures.ts";

async function setup(store: Store, executionType: ExecutionType) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily", "echo hi", { executionType }), actor);
  const create = () => store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS", executionType });
  const states = async () => (await store.instances.list({ projectId: project.id, workflowId: workflow.id, ...firstPage })).items.map((i) => [i.id, i.state]).reverse();
  return { project, actor, workflow, create, states };
}

async function end(store: Store, id: number, to: WorkflowInstanceState): Promise<void> {
  const row = (await store.instances.get(id))!;
  expect(await store.instances.transition(id, { from: [row.state], to, epoch: row.epoch, set: { endTime: new Date() } })).not.toBeNull();
}

describe.each(dialects)("serial instances on %s", (dialect) => {
  test("SERIAL_WAIT: the first runs, the rest wait; release lets in the oldest only when nothing runs; a waiting one can be stopped", async () => {
    await using store = await freshStore(dialect);
    const { workflow, create, states } = await setup(store, "SERIAL_WAIT");
    const a = await create();
    const b = await create();
    const c = await create();
    const d = await create();
    expect([a.state, b.state, c.state, d.state]).toEqual(["SUBMITTED_SUCCESS", "SERIAL_WAIT", "SERIAL_WAIT", "SERIAL_WAIT"]);
    expect(b.endTime).toBeNull();
    expect(await store.instances.workflowsWithWaiting()).toEqual([workflow.id]);
    expect(await store.instances.releaseSerial(workflow.id)).toBeNull(); // a still active

    expect((await store.instances.stopWaiting(b.id))?.state).toBe("STOP");
    expect(await store.instances.stopWaiting(b.id)).toBeNull(); // no longer waiting
    expect(await store.instances.stopWaiting(a.id)).toBeNull(); // never waited: untouched
    expect((await store.instances.get(a.id))!.state).toBe("SUBMITTED_SUCCESS");

    await end(store, a.id, "FAILURE");
    expect((await store.instances.releaseSerial(workflow.id))?.id).toBe(c.id);
    expect(await store.instances.releaseSerial(workflow.id)).toBeNull(); // c holds the slot now
    expect(await states()).toEqual([[a.id, "FAILURE"], [b.id, "STOP"], [c.id, "SUBMITTED_SUCCESS"], [d.id, "SERIAL_WAIT"]]);
    await end(store, c.id, "PAUSE"); // a paused instance runs nothing: it releases too
    expect((await store.instances.releaseSerial(workflow.id))?.id).toBe(d.id);
    expect(await store.instances.workflowsWithWaiting()).toEqual([]);
    // A new run waits behind an active one, and runs when nothing is active.
    expect((await create()).state).toBe("SERIAL_WAIT");
  });

  test("a run of a workflow with waiting instances but none running still queues behind them", async () => {
    await using store = await freshStore(dialect);
    const { workflow, create } = await setup(store, "SERIAL_WAIT");
    const a = await create();
    const b = await create();
    await end(store, a.id, "SUCCESS"); // ended, not yet released (e.g. a crash in between)
    const c = await create();
    expect(c.state).toBe("SERIAL_WAIT");
    expect((await store.instances.releaseSerial(workflow.id))?.id).toBe(b.id);
  });

  test("stranded waiting runs (nothing active ahead of them) are listed by slot; a release with nothing waiting writes nothing", async () => {
    await using store = await freshStore(dialect);
    const { workflow, create, project, actor } = await setup(store, "SERIAL_WAIT");
    const other = (await store.workflows.create(project.id, definition("weekly", "echo hi", { executionType: "SERIAL_WAIT" }), actor)).workflow;
    const a = await create();
    const b = await create();
    expect(b.state).toBe("SERIAL_WAIT");
    expect(await store.instances.workflowsWithWaiting({ stranded: true })).toEqual([]); // a runs ahead of b
    await end(store, a.id, "SUCCESS"); // ended, its release missed
    expect(await store.instances.workflowsWithWaiting({ stranded: true })).toEqual([workflow.id]);
    expect(await store.instances.workflowsWithWaiting({ slots: [0], stranded: true })).toEqual([workflow.id]);
    expect(await store.instances.workflowsWithWaiting({ slots: [1], stranded: true })).toEqual([]);
    expect(await store.instances.workflowsWithWaiting({ slots: [], stranded: true })).toEqual([]);
    // A workflow with nothing waiting: nothing to let in, and its row is neither locked nor written
    // (Postgres: its row version stays, and a lock held on it elsewhere does not hold the release up).
    const version = async () => (dialect === "postgres" ? (await rawQuery(store.url, "SELECT xmin::text AS v FROM workflow_definitions WHERE id = $1", [other.id]))[0]!.v : null);
    const before = await version();
    expect(await store.instances.releaseSerial(other.id)).toBeNull();
    expect(await version()).toBe(before);
    if (dialect === "postgres") {
      const locker = postgres(store.url, { max: 1, onnotice: () => {} });
      try {
        await locker.begin(async (tx) => {
          await tx.unsafe("SELECT id FROM workflow_definitions WHERE id = $1 FOR UPDATE", [other.id]);
          const answer = await Promise.race([store.instances.releaseSerial(other.id), Bun.sleep(5000).then(() => "held up by the lock")]);
          expect(answer).toBeNull();
        });
      } finally {
        await locker.end({ timeout: 5 });
      }
    }
    expect((await store.instances.releaseSerial(workflow.id))?.id).toBe(b.id);
    expect(await store.instances.workflowsWithWaiting({ stranded: true })).toEqual([]);
  });

  test("SERIAL_DISCARD: a run while one is active ends STOP with an audit row saying why", async () => {
    await using store = await freshStore(dialect);
    const { project, create } = await setup(store, "SERIAL_DISCARD");
    const a = await create();
    const b = await create();
    expect(a.state).toBe("SUBMITTED_SUCCESS");
    expect(b.state).toBe("STOP");
    expect(b.endTime).not.toBeNull();
    const audit = (await store.audit.list({ projectId: project.id, ...firstPage })).items.filter((e) => e.action === "instance.discard");
    expect(audit.map((e) => [e.objectId, e.actorName, e.details])).toEqual([
      [String(b.id), "porpoise", { reason: "stop by serial_discard strategy", executionType: "SERIAL_DISCARD", workflowId: a.workflowId, newerInstanceId: null }],
    ]);
  });

  test("SERIAL_PRIORITY: a new waiting run discards the older waiting ones, not the running one", async () => {
    await using store = await freshStore(dialect);
    const { create, states } = await setup(store, "SERIAL_PRIORITY");
    const a = await create();
    const b = await create();
    const c = await create();
    const d = await create();
    expect(await states()).toEqual([[a.id, "SUBMITTED_SUCCESS"], [b.id, "STOP"], [c.id, "STOP"], [d.id, "SERIAL_WAIT"]]);
  });

  test("PARALLEL (and no execution type): every run is submitted", async () => {
    await using store = await freshStore(dialect);
    const { workflow, create } = await setup(store, "PARALLEL");
    expect([(await create()).state, (await create()).state]).toEqual(["SUBMITTED_SUCCESS", "SUBMITTED_SUCCESS"]);
    const plain = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
    expect(plain.state).toBe("SUBMITTED_SUCCESS");
  });

  test("schedule fires follow the workflow's execution type", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow, states } = await setup(store, "SERIAL_WAIT");
    const s = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor);
    const base = Date.parse("2099-06-01T00:00:00Z");
    const fired: Awaited<ReturnType<typeof store.schedules.fire>>[] = [];
    for (let i = 0; i < 3; i++) fired.push(await store.schedules.fire({ scheduleId: s.id, fireTime: new Date(base + i * 1000), slot: () => 0 }));
    const ids = fired.map((f) => (f.outcome === "created" ? f.instance.id : -1)) as [number, number, number];
    expect(await states()).toEqual([[ids[0], "SUBMITTED_SUCCESS"], [ids[1], "SERIAL_WAIT"], [ids[2], "SERIAL_WAIT"]]);
  });

  test("two store connections creating at once: exactly one is let in, the others wait", async () => {
    await using store = await freshStore(dialect);
    // SQLite has one writer; there the race is between concurrent calls on one store.
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    await using _closeOther = { [Symbol.asyncDispose]: () => (other === store ? Promise.resolve() : other.close()) };
    const { workflow } = await setup(store, "SERIAL_WAIT");
    const input = { workflowId: workflow.id, slot: 0, runType: "START_PROCESS", executionType: "SERIAL_WAIT" as const };
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).instances.create(input)));
    expect(created.filter((i) => i.state === "SUBMITTED_SUCCESS")).toHaveLength(1);
    expect(created.filter((i) => i.state === "SERIAL_WAIT")).toHaveLength(9);
  });

  test("fires of different schedules of one serial workflow on two connections, with creates: exactly one is let in", async () => {
    await using store = await freshStore(dialect);
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    await using _closeOther = { [Symbol.asyncDispose]: () => (other === store ? Promise.resolve() : other.close()) };
    const { project, actor, workflow, states } = await setup(store, "SERIAL_WAIT");
    // Fires read their workflow FOR KEY SHARE (schedule-fire-sql.ts) and lock a serial one FOR NO
    // KEY UPDATE only then: batches over distinct schedules share no schedule lock, so only that
    // second lock keeps two admissions apart.
    const schedules = [];
    for (let i = 0; i < 6; i++) schedules.push(await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor));
    const fireTime = new Date(Date.parse("2099-06-01T00:00:00Z"));
    const fires = schedules.map((s, i) => (i % 2 ? other : store).schedules.fireMany([{ scheduleId: s.id, fireTime, slot: () => 0 }]));
    const input = { workflowId: workflow.id, slot: 0, runType: "START_PROCESS", executionType: "SERIAL_WAIT" as const };
    const creates = Array.from({ length: 4 }, (_, i) => (i % 2 ? store : other).instances.create(input));
    const [fired] = await Promise.all([Promise.all(fires), Promise.all(creates)]);
    expect(fired.flat().map((r) => r.outcome)).toEqual(Array(6).fill("created"));
    const all = await states();
    expect(all).toHaveLength(10);
    expect(all.filter(([, state]) => state === "SUBMITTED_SUCCESS")).toHaveLength(1);
    expect(all.filter(([, state]) => state === "SERIAL_WAIT")).toHaveLength(9);
  });
});
