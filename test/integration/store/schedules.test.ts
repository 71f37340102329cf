// Schedules in the Store and the scheduler on top: CRUD with audit rows, a fire creates exactly
// one instance (also when two store connections race for it), a per-second schedule fires with
// the right scheduleTime, an OFFLINE schedule does not fire, and changes reach the heap at once.

import { describe, expect, test } from "bun:test";
import { MemoryBus } from "../../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../../src/coordinator/single-node.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { createEngineClient } from "../../../src/api/engine-client.ts";
import { Scheduler } from "../../../src/master/scheduler/scheduler.ts";
import { openStore } from "../../../src/store/open.ts";
import type { WakeMessage } from "../../../src/core/messages.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, firstPage, system, userWithProject } from "./fixtures.ts";
import { waitFor } from "../../helpers/wait.ts";


async function setup(store: Store) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  return { project, actor, workflow };
}

async function scheduled(store: Store, projectId: number, workflowId: number) {
  const page = await store.instances.list({ projectId, workflowId, limit: 500, offset: 0 });
  return page.items.filter((i) => i.runType === "SCHEDULER");
}

describe.each(dialects)("schedules store on %s", (dialect) => {
  test("create, list, update, release, delete, with audit rows", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await setup(store);
    const s = await store.schedules.create(project.id, workflow.id, { cron: "0 0 3 * * ?", timezone: "Europe/Berlin", params: { a: "1" }, catchup: "latest" }, actor);
    expect(s).toMatchObject({ cron: "0 0 3 * * ?", timezone: "Europe/Berlin", releaseState: "OFFLINE", catchup: "latest", catchupMax: 100, params: { a: "1" }, lastFireTime: null });
    expect((await store.schedules.listForWorkflow(workflow.id, firstPage)).items.map((x) => x.id)).toEqual([s.id]);
    expect(await store.schedules.listOnline()).toEqual([]);
    const updated = await store.schedules.update(s.id, { cron: "0 30 4 * * ?", endTime: new Date("2030-01-01T00:00:00Z") }, actor);
    expect(updated).toMatchObject({ cron: "0 30 4 * * ?", timezone: "Europe/Berlin", endTime: new Date("2030-01-01T00:00:00Z") });
    const at = new Date();
    const online = await store.schedules.setReleaseState(s.id, "ONLINE", actor, at);
    expect(online.releaseState).toBe("ONLINE");
    expect(online.lastFireTime?.getTime()).toBe(at.getTime());
    expect((await store.schedules.listOnline()).map((x) => x.id)).toEqual([s.id]);
    await store.schedules.delete(s.id, actor);
    expect(await store.schedules.get(s.id)).toBeNull();
    await expect(store.schedules.update(s.id, { cron: "* * * * * ?" }, actor)).rejects.toThrow(`schedule ${s.id} does not exist`);
    const actions = (await store.audit.list({ projectId: project.id, ...firstPage })).items.map((a) => a.action).filter((a) => a.startsWith("schedule."));
    expect(actions.sort()).toEqual(["schedule.create", "schedule.delete", "schedule.online", "schedule.update"]);
  });

  test("a fire creates one instance; the same fire again is 'exists'; OFFLINE skips", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await setup(store);
    const s = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE", priority: "HIGH", params: { k: "v" } }, actor);
    const fireTime = new Date("2026-05-01T00:00:00Z");
    const first = await store.schedules.fire({ scheduleId: s.id, fireTime, slot: () => 7 });
    expect(first.outcome).toBe("created");
    if (first.outcome !== "created") throw new Error("unreachable");
    expect(first.instance).toMatchObject({ runType: "SCHEDULER", scheduleId: s.id, scheduleTime: fireTime, slot: 7, priority: "HIGH", params: { k: "v" } });
    expect(await store.schedules.fire({ scheduleId: s.id, fireTime, slot: () => 7 })).toEqual({ outcome: "exists" });
    await store.schedules.setReleaseState(s.id, "OFFLINE", system);
    const off = await store.schedules.fire({ scheduleId: s.id, fireTime: new Date("2026-05-01T00:00:01Z"), slot: () => 0 });
    expect(off.outcome).toBe("skipped");
    expect((await scheduled(store, project.id, workflow.id)).length).toBe(1);
  });

  test("two store connections racing for the same fires create one instance per fire", async () => {
    await using store = await freshStore(dialect);
    // Two bun:sqlite connections in one process cannot race: the second one's busy wait blocks the
    // thread that would commit the first. SQLite has one writer anyway; there the race is between
    // concurrent calls on one store. Postgres gets a second connection pool.
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    await using _closeOther = { [Symbol.asyncDispose]: () => (other === store ? Promise.resolve() : other.close()) };
    const { project, actor, workflow } = await setup(store);
    const s = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor);
    const base = Date.parse("2099-06-01T00:00:00Z");
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => new Date(base + Math.floor(i / 2) * 1000)).flatMap((fireTime) => [
        store.schedules.fire({ scheduleId: s.id, fireTime, slot: () => 0 }),
        other.schedules.fire({ scheduleId: s.id, fireTime, slot: () => 0 }),
      ]),
    );
    expect(results.filter((r) => r.outcome === "created").length).toBe(10);
    expect(results.filter((r) => r.outcome === "exists").length).toBe(30);
    const times = (await scheduled(store, project.id, workflow.id)).map((i) => i.scheduleTime!.getTime()).sort();
    expect(times).toEqual(Array.from({ length: 10 }, (_, i) => base + i * 1000));
    expect((await store.schedules.get(s.id))!.lastFireTime!.getTime()).toBe(base + 9000);
  });

  test("fireMany: one transaction, results in input order, a repeated fire in the batch is 'exists'", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await setup(store);
    const a = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor);
    const b = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?" }, actor);
    const t = new Date("2099-01-01T00:00:00Z");
    const results = await store.schedules.fireMany([
      { scheduleId: b.id, fireTime: t, slot: () => 0 },
      { scheduleId: a.id, fireTime: t, slot: () => 0 },
      { scheduleId: a.id, fireTime: t, slot: () => 0 },
    ]);
    expect(results.map((r) => r.outcome)).toEqual(["skipped", "created", "exists"]);
    expect((await scheduled(store, project.id, workflow.id)).map((i) => i.scheduleId)).toEqual([a.id]);
  });
});

describe.each(dialects)("scheduler on %s", (dialect) => {
  test("a per-second schedule fires with its fire times; OFFLINE stops it; API changes reach the heap at once", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await setup(store);
    const bus = new MemoryBus();
    const coordinator = new SingleNodeCoordinator();
    // The scheduler fires the schedules of the slots its coordinator holds: all of them, once started.
    await coordinator.start();
    const client = createEngineClient({ store, bus, slotOf: (id) => coordinator.slotOf(id), log: silentLogger });
    const scheduler = new Scheduler({ store, bus, coordinator, log: silentLogger });
    await scheduler.start();
    try {
      const s = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor);
      const idle = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?" }, actor);
      client.scheduleChanged!(s.id);
      client.scheduleChanged!(idle.id);
      const fired = await waitFor("three fires", async () => {
        const items = await scheduled(store, project.id, workflow.id);
        return items.length >= 3 ? items : null;
      });
      for (const i of fired) {
        expect(i.scheduleId).toBe(s.id);
        expect(i.scheduleTime!.getTime() % 1000).toBe(0);
        expect(i.scheduleTime!.getTime()).toBeGreaterThan(s.createdAt.getTime());
        expect(i.createdAt.getTime()).toBeGreaterThanOrEqual(i.scheduleTime!.getTime());
      }
      const times = fired.map((i) => i.scheduleTime!.getTime()).sort();
      expect(new Set(times).size).toBe(times.length);

      await store.schedules.setReleaseState(s.id, "OFFLINE", actor);
      client.scheduleChanged!(s.id);
      await waitFor("the heap to drop it", async () => scheduler.size === 0);
      const count = (await scheduled(store, project.id, workflow.id)).length;
      // A fire already in flight when it went OFFLINE is refused by the Store; wait past two fire times.
      const until = Date.now() + 2100;
      await waitFor("two fire times to pass", async () => Date.now() > until);
      expect((await scheduled(store, project.id, workflow.id)).length).toBe(count);
    } finally {
      await scheduler.stop();
      await bus.close();
    }
  }, 30_000);

  test("the fires of one instant wake the masters with one message naming each run they created", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await setup(store);
    const bus = new MemoryBus();
    const coordinator = new SingleNodeCoordinator();
    await coordinator.start();
    const wakes: WakeMessage[] = [];
    await bus.subscribeWakes((m) => wakes.push(m));
    const schedules = [];
    for (let i = 0; i < 3; i++) schedules.push(await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor));
    const scheduler = new Scheduler({ store, bus, coordinator, log: silentLogger });
    await scheduler.start();
    try {
      const batch = await waitFor("a wake naming three runs", async () => wakes.find((w): w is { instanceIds: number[] } => "instanceIds" in w && w.instanceIds.length === 3) ?? null);
      const runs = (await scheduled(store, project.id, workflow.id)).filter((i) => batch.instanceIds.includes(i.id));
      expect(runs.map((r) => r.scheduleId).sort()).toEqual(schedules.map((s) => s.id).sort());
      expect(new Set(runs.map((r) => r.scheduleTime!.getTime())).size).toBe(1);
      // Every run created so far was named by exactly one wake.
      await scheduler.stop();
      const named = wakes.flatMap((w) => ("instanceIds" in w ? w.instanceIds : "instanceId" in w ? [w.instanceId] : []));
      expect(named.sort((a, b) => a - b)).toEqual((await scheduled(store, project.id, workflow.id)).map((i) => i.id).sort((a, b) => a - b));
    } finally {
      await scheduler.stop();
      await bus.close();
    }
  }, 30_000);

  test("behind after a slow batch: the next batch carries every due fire of a schedule, none skipped, none twice", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow } = await setup(store);
    const s = await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor);
    // The first batch is held 3.5 s before it reaches the Store (a loaded machine, a lock queue).
    const calls: number[][] = [];
    const fireMany: Store["schedules"]["fireMany"] = async (inputs, options) => {
      calls.push(inputs.map((i) => i.fireTime.getTime()));
      if (calls.length === 1) await Bun.sleep(3500);
      return store.schedules.fireMany(inputs, options);
    };
    const slow: Store = { ...store, schedules: { ...store.schedules, fireMany } };
    const bus = new MemoryBus();
    const coordinator = new SingleNodeCoordinator();
    await coordinator.start();
    const scheduler = new Scheduler({ store: slow, bus, coordinator, log: silentLogger });
    await scheduler.start();
    try {
      await waitFor("a batch after the slow one", async () => calls.length >= 2);
      // The slow one held one fire; three more fell due meanwhile and go together.
      expect(calls[0]).toHaveLength(1);
      expect(calls[1]!.length).toBeGreaterThanOrEqual(3);
      await waitFor("two more batches", async () => calls.length >= 4);
    } finally {
      await scheduler.stop();
      await bus.close();
    }
    const times = (await scheduled(store, project.id, workflow.id)).map((i) => i.scheduleTime!.getTime()).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(5);
    expect(times.map((t) => t - times[0]!)).toEqual(times.map((_, i) => i * 1000));
    expect(times[0]).toBe(calls[0]![0]!);
  }, 30_000);
});
