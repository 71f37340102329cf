// Writes fenced by the slot lease (src/store/lease-fence.ts, docs/architecture.md §3.3): with
// store.fenceWith(node) on Postgres, a master's group commit, instance transitions, restarts,
// sub_workflow children, interrupted-attempt marking and schedule fires apply only while
// slot_leases says `node` holds the slot at the write's epoch and the lease has not expired on
// the database clock. The lease rows are written by the test, as the Postgres Coordinator would.
// Fencing off (the default, and every SQLite store) changes nothing.
import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../../src/core/errors.ts";
import { LeaseNotHeldError } from "../../../src/store/instances.ts";
import type { Store, TaskBatchOp } from "../../../src/store/store.ts";
import { freshStore, setLease, type SlotLeaseRow as Lease } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

const SLOT = 2;


const HELD: Lease = { owner: "m1", epoch: 1, expiresInMs: 60_000 };
/** The ways a lease is not this node's at epoch 1. */
const REFUSED: [string, Lease][] = [
  ["expired", { owner: "m1", epoch: 1, expiresInMs: -1 }],
  ["held by another node", { owner: "m2", epoch: 1, expiresInMs: 60_000 }],
  ["taken over (newer epoch, row not yet written by the new owner)", { owner: "m2", epoch: 2, expiresInMs: 60_000 }],
  ["held by this node at a newer epoch", { owner: "m1", epoch: 2, expiresInMs: 60_000 }],
  ["free", { owner: null, epoch: 1, expiresInMs: -1 }],
];

async function runningInstance(store: Store) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  const wi = await store.instances.create({ workflowId: workflow.id, slot: SLOT, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
  return { project, actor, workflow, wi };
}

/** An instance with one dispatched attempt (written unfenced) and the batch a master would commit next. */
async function batchOf(store: Store) {
  const { wi, workflow, project, actor } = await runningInstance(store);
  const [first] = await store.taskInstances.applyBatch([
    { op: "insert", workflowInstanceId: wi.id, taskName: "extract", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t1", slot: SLOT, epoch: 1, submitTime: new Date() },
  ]);
  const extract = first!.outcome === "applied" ? first!.id : -1;
  const ops: TaskBatchOp[] = [
    { op: "update", id: extract, attempt: 1, token: "t1", from: ["DISPATCH"], to: "SUCCESS", set: { endTime: new Date() }, fence: { workflowInstanceId: wi.id, epoch: 1 } },
    { op: "insert", workflowInstanceId: wi.id, taskName: "load", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t2", slot: SLOT, epoch: 1, submitTime: new Date() },
    { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "READY_STOP", epoch: 1 },
    // A transition with a column the compiled statement does not write (drizzle's path).
    { op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "READY_PAUSE", epoch: 1, set: { params: { x: "1" } } },
  ];
  return { wi, workflow, project, actor, extract, ops };
}

async function snapshot(store: Store, id: number) {
  return { instance: await store.instances.get(id), attempts: await store.taskInstances.listForInstance(id) };
}

describe("writes fenced by the slot lease (postgres)", () => {
  test("with the lease held, the group commit applies", async () => {
    await using store = await freshStore("postgres");
    const { wi, ops } = await batchOf(store);
    await setLease(store, SLOT, HELD);
    store.fenceWith("m1");
    const out = await store.taskInstances.applyBatch(ops, { id: "b1" });
    expect(out.map((o) => o.outcome)).toEqual(["applied", "applied", "applied", "stale"]); // the 4th: no longer RUNNING
    expect((await store.instances.get(wi.id))!.state).toBe("READY_STOP");
  });

  for (const [why, lease] of REFUSED) {
    test(`a lease ${why}: the group commit is refused (stale) and changes nothing`, async () => {
      await using store = await freshStore("postgres");
      const { wi, ops } = await batchOf(store);
      await setLease(store, SLOT, lease);
      const before = await snapshot(store, wi.id);
      store.fenceWith("m1");
      const out = await store.taskInstances.applyBatch(ops, { id: "b1" });
      expect(out.map((o) => o.outcome)).toEqual(["stale", "stale", "stale", "stale"]);
      // Also the fence statement: the instance's epoch (and everything else) is as it was.
      expect(await snapshot(store, wi.id)).toEqual(before);
      // A newer epoch held by this node fences with that epoch: it applies.
      if (lease.owner === "m1" && lease.epoch === 2 && lease.expiresInMs > 0) {
        const newer = ops.map((op) => (op.op === "insert" ? { ...op, epoch: 2 } : op.op === "update" ? { ...op, fence: { workflowInstanceId: wi.id, epoch: 2 } } : { ...op, epoch: 2 }));
        expect((await store.taskInstances.applyBatch(newer)).map((o) => o.outcome)).toEqual(["applied", "applied", "applied", "stale"]);
      }
    });
  }

  test("fencing off (default, or fenceWith(null)): the lease is not looked at", async () => {
    await using store = await freshStore("postgres");
    const { wi, ops } = await batchOf(store);
    await setLease(store, SLOT, { owner: "m2", epoch: 5, expiresInMs: -1 });
    store.fenceWith("m1");
    store.fenceWith(null);
    expect((await store.taskInstances.applyBatch(ops)).map((o) => o.outcome)).toEqual(["applied", "applied", "applied", "stale"]);
    expect((await store.instances.get(wi.id))!.state).toBe("READY_STOP");
  });

  test("instance transitions (compiled and drizzle) and restarts are fenced", async () => {
    await using store = await freshStore("postgres");
    const { wi } = await runningInstance(store);
    store.fenceWith("m1");
    for (const [, lease] of REFUSED) {
      await setLease(store, SLOT, lease);
      expect(await store.instances.transition(wi.id, { from: ["RUNNING_EXECUTION"], to: "FAILURE", epoch: 1, set: { endTime: new Date() } })).toBeNull();
      const [batchOut] = await store.taskInstances.applyBatch([{ op: "instance", id: wi.id, from: ["RUNNING_EXECUTION"], to: "FAILURE", epoch: 1, set: { endTime: new Date() } }]);
      expect(batchOut!.outcome).toBe("stale");
    }
    expect((await store.instances.get(wi.id))!.state).toBe("RUNNING_EXECUTION");
    await setLease(store, SLOT, HELD);
    expect((await store.instances.transition(wi.id, { from: ["RUNNING_EXECUTION"], to: "FAILURE", epoch: 1, set: { endTime: new Date() } }))!.state).toBe("FAILURE");

    // A restart (rerun) of the ended instance: refused without the lease, applies with it.
    await setLease(store, SLOT, { owner: "m2", epoch: 2, expiresInMs: 60_000 });
    expect(await store.instances.restart(wi.id, { control: "rerun", from: ["FAILURE"], epoch: 1 })).toEqual({ outcome: "stale" });
    expect((await store.instances.get(wi.id))!.state).toBe("FAILURE");
    await setLease(store, SLOT, HELD);
    expect((await store.instances.restart(wi.id, { control: "rerun", from: ["FAILURE"], epoch: 1 })).outcome).toBe("submitted");
  });

  test("a sub_workflow child starts only while the parent's master holds the parent's slot", async () => {
    await using store = await freshStore("postgres");
    const { wi, workflow } = await runningInstance(store);
    const [parentTask] = await store.taskInstances.applyBatch([
      { op: "insert", workflowInstanceId: wi.id, taskName: "extract", taskType: "sub_workflow", attempt: 1, state: "RUNNING_EXECUTION", dispatchToken: null, slot: SLOT, epoch: 1, submitTime: new Date() },
    ]);
    const parentTaskInstanceId = parentTask!.outcome === "applied" ? parentTask!.id : -1;
    const child = () => store.instances.create({ workflowId: workflow.id, slot: 5, runType: "SUB_PROCESS", parentTaskInstanceId });
    store.fenceWith("m1");
    await setLease(store, SLOT, { owner: "m1", epoch: 1, expiresInMs: -1 });
    const err = await child().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseNotHeldError);
    expect((err as Error).message).toContain(`workflow instance ${wi.id}`);
    await setLease(store, SLOT, HELD);
    expect((await child()).parentTaskInstanceId).toBe(parentTaskInstanceId);
  });

  test("marking interrupted attempts touches only slots whose lease this node holds", async () => {
    await using store = await freshStore("postgres");
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    const attempts: Record<number, number> = {};
    for (const slot of [1, 2, 3]) {
      const wi = await store.instances.create({ workflowId: workflow.id, slot, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
      const [o] = await store.taskInstances.applyBatch([
        { op: "insert", workflowInstanceId: wi.id, taskName: "extract", taskType: "shell", attempt: 1, state: "RUNNING_EXECUTION", dispatchToken: "t", slot, epoch: 1, submitTime: new Date() },
      ]);
      attempts[slot] = o!.outcome === "applied" ? o!.id : -1;
    }
    await setLease(store, 1, HELD);
    await setLease(store, 2, { owner: "m2", epoch: 3, expiresInMs: 60_000 });
    await setLease(store, 3, { owner: "m1", epoch: 1, expiresInMs: -1 });
    store.fenceWith("m1");
    const marked = await store.taskInstances.markInterrupted({ all: true, slots: [1, 2, 3] });
    expect(marked.map((t) => t.id)).toEqual([attempts[1]!]);
  });

  test("a schedule fire is fenced by the lease of the schedule's slot; still one instance per fire", async () => {
    await using store = await freshStore("postgres");
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("hourly"), actor);
    const schedule = await store.schedules.create(project.id, workflow.id, { cron: "0 0 * * * ?", releaseState: "ONLINE" }, actor);
    const fireTime = new Date(Date.now() - 1000);
    const slot = () => 7;
    const instances = async () => (await store.instances.list({ projectId: project.id, limit: 100, offset: 0 })).items;
    store.fenceWith("m1");
    await expect(store.schedules.fire({ scheduleId: schedule.id, fireTime, slot })).rejects.toBeInstanceOf(ValidationError);
    for (const [why, lease] of REFUSED) {
      await setLease(store, SLOT, lease);
      const r = await store.schedules.fire({ scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 1 } });
      expect(r.outcome, why).toBe("stale");
    }
    expect(await instances()).toEqual([]);
    expect((await store.schedules.get(schedule.id))!.lastFireTime).toEqual(schedule.lastFireTime);
    await setLease(store, SLOT, HELD);
    const [a, b] = await store.schedules.fireMany([
      { scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 1 } },
      { scheduleId: schedule.id, fireTime: new Date(fireTime.getTime() + 1), slot, lease: { slot: 9, epoch: 1 } },
    ]);
    expect(a!.outcome).toBe("created");
    expect(b!.outcome).toBe("stale");
    expect(await store.schedules.fire({ scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 1 } })).toEqual({ outcome: "exists" });
    expect((await instances()).length).toBe(1);
    // Fencing off: no lease needed, none looked at.
    store.fenceWith(null);
    await setLease(store, SLOT, { owner: "m2", epoch: 9, expiresInMs: -1 });
    expect((await store.schedules.fire({ scheduleId: schedule.id, fireTime: new Date(fireTime.getTime() + 2), slot })).outcome).toBe("created");
  });

  /** A per-second schedule of a fresh workflow, with the store fenced by `node`; `slot` puts every run in slot 7. */
  async function everySecondScheduleFencedBy(store: Store, node: string) {
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("ticks"), actor);
    const schedule = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor);
    store.fenceWith(node);
    return { project, schedule, slot: () => 7 };
  }

  test("a lease that ends while a fire waits for its notBefore: nothing created and the cursor stays, so the next owner replays the fire", async () => {
    await using store = await freshStore("postgres");
    const { project, schedule, slot } = await everySecondScheduleFencedBy(store, "m1");
    // Held when the batch reads its leases, expired when it inserts (after the notBefore wait).
    await setLease(store, SLOT, { owner: "m1", epoch: 1, expiresInMs: 300 });
    // After the schedule was created (its cursor starts there).
    const fireTime = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const notBefore = new Date(Date.now() + 700);
    // The insert went in under the lease before the wait; the lease is checked again before the
    // COMMIT, and the batch rolls back (the scheduler retries it; the slot is not its own any more).
    await expect(store.schedules.fireMany([{ scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 1 } }], { notBefore })).rejects.toThrow(
      /schedule fires rolled back: node "m1" lost the lease of slot 2 while the batch waited for its fire time/,
    );
    expect((await store.instances.list({ projectId: project.id, limit: 10, offset: 0 })).items).toEqual([]);
    expect((await store.schedules.get(schedule.id))!.lastFireTime).toEqual(schedule.lastFireTime);
    // The next owner (m2 took the slot over) fires it from the cursor: created once.
    await setLease(store, SLOT, { owner: "m2", epoch: 2, expiresInMs: 60_000 });
    store.fenceWith("m2");
    const [again] = await store.schedules.fireMany([{ scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 2 } }]);
    expect(again!.outcome).toBe("created");
    expect((await store.schedules.get(schedule.id))!.lastFireTime).toEqual(fireTime);
  });

  test("a fire's lease checked again by the caller's leaseHeld (the coordinator's view) instead of a query: no → rolled back, yes → created", async () => {
    await using store = await freshStore("postgres");
    const { project, schedule, slot } = await everySecondScheduleFencedBy(store, "m1");
    // The database says held all along: only the callback can refuse.
    await setLease(store, SLOT, { owner: "m1", epoch: 1, expiresInMs: 60_000 });
    const fireTime = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const asked: [number, number][] = [];
    await expect(
      store.schedules.fireMany([{ scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 1 } }], { notBefore: new Date(Date.now() + 200), leaseHeld: (s, e) => (asked.push([s, e]), false) }),
    ).rejects.toThrow(/lost the lease of slot 2 while the batch waited/);
    expect(asked).toEqual([[SLOT, 1]]);
    expect((await store.instances.list({ projectId: project.id, limit: 10, offset: 0 })).items).toEqual([]);
    expect((await store.schedules.get(schedule.id))!.lastFireTime).toEqual(schedule.lastFireTime);
    const [r] = await store.schedules.fireMany([{ scheduleId: schedule.id, fireTime, slot, lease: { slot: SLOT, epoch: 1 } }], { notBefore: new Date(Date.now() + 200), leaseHeld: () => true });
    expect(r!.outcome).toBe("created");
    expect((await store.schedules.get(schedule.id))!.lastFireTime).toEqual(fireTime);
  });

  test("fenceWith names a bad node id", async () => {
    await using store = await freshStore("postgres");
    expect(() => store.fenceWith("")).toThrow(/fenceWith nodeId/);
  });
});

describe("fencing on SQLite", () => {
  test("accepted and ignored: one node, nothing to fence against", async () => {
    await using store = await freshStore("sqlite");
    const { wi, ops } = await batchOf(store);
    store.fenceWith("m1");
    expect((await store.taskInstances.applyBatch(ops)).map((o) => o.outcome)).toEqual(["applied", "applied", "applied", "stale"]);
    expect((await store.instances.get(wi.id))!.state).toBe("READY_STOP");
  });
});
