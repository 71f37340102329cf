// The batched fire path (schedules.ts fireBatch, schedule-fire-sql.ts) on both dialects: a batch
// mixing every kind of fire gives each its own outcome and stores exactly what one fire at a time
// stored (fields, slot = slot(id), cursors); two store connections firing the same overlapping
// batches in opposite orders create one instance per fire and never deadlock; a batch of any size
// is one call; a batch handed over early (notBefore) creates nothing before its instant; and the
// scheduler's start moves every cursor to one load instant and fires catch-ups in batches.

import { describe, expect, test } from "bun:test";
import { MemoryBus } from "../../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../../src/coordinator/single-node.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { Scheduler } from "../../../src/master/scheduler/scheduler.ts";
import { openStore } from "../../../src/store/open.ts";
import type { FireResult, Store } from "../../../src/store/store.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

const slot = (id: number) => (id * 7) % 13;

async function instancesOf(store: Store, projectId: number) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const page = await store.instances.list({ projectId, limit: 500, offset });
    items.push(...page.items);
    if (page.items.length < 500) return items;
  }
}

describe.each(dialects)("batched schedule fires on %s", (dialect) => {
  test("a mixed batch: each fire gets its outcome, rows and cursors are as one fire at a time leaves them", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const wf = async (name: string, extra: Record<string, unknown> = {}) => (await store.workflows.create(project.id, definition(name, "echo hi", extra), actor)).workflow;
    const parallel = await wf("parallel");
    const serial = await wf("serial", { executionType: "SERIAL_WAIT" });
    const offline = await wf("offline");
    // A second version: fires carry the workflow's current version.
    await store.workflows.addVersion(project.id, "parallel", definition("parallel", "echo v2"), actor);
    const online = { cron: "* * * * * ?", releaseState: "ONLINE" } as const;
    const a = await store.schedules.create(project.id, parallel.id, { ...online, timezone: "Europe/Berlin", priority: "HIGH", workerGroup: "gpu", failureStrategy: "CONTINUE", params: { day: "1" } }, actor);
    const b = await store.schedules.create(project.id, parallel.id, online, actor);
    const s = await store.schedules.create(project.id, serial.id, online, actor);
    const off = await store.schedules.create(project.id, offline.id, online, actor);
    const idle = await store.schedules.create(project.id, parallel.id, { cron: "* * * * * ?" }, actor);
    const gone = await store.schedules.create(project.id, parallel.id, online, actor);
    await store.schedules.delete(gone.id, actor);
    await store.workflows.setReleaseState(offline.id, "OFFLINE", actor);
    // Taking the workflow OFFLINE took its schedule OFFLINE too; a database from before that rule
    // can still hold an ONLINE schedule of an OFFLINE workflow: its fires are skipped.
    expect((await store.schedules.get(off.id))!.releaseState).toBe("OFFLINE");
    await rawQuery(store.url, `UPDATE schedules SET release_state = 'ONLINE' WHERE id = ${off.id}`);
    const t1 = new Date("2099-01-01T00:00:01Z");
    const t2 = new Date("2099-01-01T00:00:02Z");
    // An earlier fire of b exists already: in the batch it is "exists", not an error.
    const before = await store.schedules.fire({ scheduleId: b.id, fireTime: t1, slot });
    expect(before.outcome).toBe("created");

    const inputs = [
      { scheduleId: a.id, fireTime: t2 },
      { scheduleId: s.id, fireTime: t1 },
      { scheduleId: b.id, fireTime: t1 },
      { scheduleId: off.id, fireTime: t1 },
      { scheduleId: idle.id, fireTime: t1 },
      { scheduleId: gone.id, fireTime: t1 },
      { scheduleId: a.id, fireTime: t1 },
      { scheduleId: s.id, fireTime: t2 },
      { scheduleId: a.id, fireTime: t2 },
      { scheduleId: b.id, fireTime: t2 },
    ];
    const results = await store.schedules.fireMany(inputs.map((i) => ({ ...i, slot })));
    const summary = (r: FireResult) => (r.outcome === "skipped" ? `skipped: ${r.reason} (${r.scheduleActive})` : r.outcome);
    expect(results.map(summary)).toEqual([
      "created",
      "created",
      "exists",
      'skipped: workflow "offline" is OFFLINE (true)',
      `skipped: schedule ${idle.id} is OFFLINE (false)`,
      `skipped: schedule ${gone.id} was deleted (false)`,
      "created",
      "created",
      "exists", // the same fire twice in one batch: the first input is the one created
      "created",
    ]);

    // What the batch returned is what is stored.
    const stored = new Map((await instancesOf(store, project.id)).map((i) => [i.id, i]));
    for (const r of results) {
      if (r.outcome !== "created") continue;
      const { workflowName: _, ...row } = stored.get(r.instance.id)!;
      expect(row).toEqual(r.instance);
    }
    const created = results.flatMap((r, k) => (r.outcome === "created" ? [{ input: inputs[k]!, instance: r.instance }] : []));
    for (const { input, instance } of created) {
      expect(instance).toMatchObject({ runType: "SCHEDULER", scheduleId: input.scheduleId, scheduleTime: input.fireTime, slot: slot(instance.id), dryRun: false, epoch: 0 });
    }
    const fromA = created.filter((c) => c.input.scheduleId === a.id).map((c) => c.instance);
    expect(fromA).toHaveLength(2);
    for (const i of fromA) expect(i).toMatchObject({ workflowId: parallel.id, workflowVersion: 2, state: "SUBMITTED_SUCCESS", timezone: "Europe/Berlin", priority: "HIGH", workerGroup: "gpu", failureStrategy: "CONTINUE", params: { day: "1" } });
    // The serial workflow keeps its semantics inside a batch: the first runs, the second waits.
    const fromS = created.filter((c) => c.input.scheduleId === s.id).map((c) => c.instance);
    expect(fromS.map((i) => [i.scheduleTime!.getTime(), i.state])).toEqual([
      [t1.getTime(), "SUBMITTED_SUCCESS"],
      [t2.getTime(), "SERIAL_WAIT"],
    ]);
    // Exactly one instance per (schedule, fire time), the one from before included.
    const keys = [...stored.values()].map((i) => `${i.scheduleId}@${i.scheduleTime!.toISOString()}`).sort();
    expect(keys).toEqual([...new Set(keys)]);
    expect(keys).toHaveLength(6);

    // Cursors: moved to the newest fire that counted (created, existing, or skipped for an OFFLINE
    // workflow); untouched for the OFFLINE schedule.
    const cursor = async (id: number) => (await store.schedules.get(id))!.lastFireTime?.getTime() ?? null;
    expect(await cursor(a.id)).toBe(t2.getTime());
    expect(await cursor(b.id)).toBe(t2.getTime());
    expect(await cursor(s.id)).toBe(t2.getTime());
    expect(await cursor(off.id)).toBe(t1.getTime());
    expect(await cursor(idle.id)).toBeNull();
    // A cursor never moves back: an older fire after a newer one leaves it.
    await store.schedules.fireMany([{ scheduleId: a.id, fireTime: new Date("2098-01-01T00:00:00Z"), slot }]);
    expect(await cursor(a.id)).toBe(t2.getTime());
    // Instance ids keep growing after the batch's own allocation (no id is handed out twice).
    const next = await store.schedules.fire({ scheduleId: b.id, fireTime: new Date("2099-01-01T00:00:03Z"), slot });
    if (next.outcome !== "created") throw new Error(`expected created, got ${next.outcome}`);
    expect(next.instance.id).toBeGreaterThan(Math.max(...stored.keys()));
    const manual = await store.instances.create({ workflowId: parallel.id, slot: 0, runType: "START_PROCESS" });
    expect(manual.id).toBeGreaterThan(next.instance.id);
  });

  test("two store connections firing overlapping batches in opposite orders: one instance per fire, no deadlock", async () => {
    await using store = await freshStore(dialect);
    // SQLite has one writer; there the race is between concurrent calls on one store.
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    await using _closeOther = { [Symbol.asyncDispose]: () => (other === store ? Promise.resolve() : other.close()) };
    const { project, actor } = await userWithProject(store);
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { workflow } = await store.workflows.create(project.id, definition(`w${i}`), actor);
      ids.push((await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor)).id);
    }
    const base = Date.parse("2099-06-01T00:00:00Z");
    const batch = (round: number, reverse: boolean) => {
      const inputs = ids.map((scheduleId) => ({ scheduleId, fireTime: new Date(base + round * 1000), slot }));
      return reverse ? inputs.reverse() : inputs;
    };
    const results = (
      await Promise.all(Array.from({ length: 8 }, (_, round) => [store.schedules.fireMany(batch(round, false)), other.schedules.fireMany(batch(round, true))]).flat())
    ).flat();
    expect(results.filter((r) => r.outcome === "created")).toHaveLength(30 * 8);
    expect(results.filter((r) => r.outcome === "exists")).toHaveLength(30 * 8);
    const instances = await instancesOf(store, project.id);
    expect(instances).toHaveLength(30 * 8);
    expect(new Set(instances.map((i) => `${i.scheduleId}@${i.scheduleTime!.getTime()}`)).size).toBe(30 * 8);
    expect(new Set(instances.map((i) => i.id)).size).toBe(30 * 8);
  }, 60_000);

  test("a batch larger than any the scheduler sends (1,200 fires) is still one call with every outcome right", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("many"), actor);
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push((await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor)).id);
    const base = Date.parse("2099-02-01T00:00:00Z");
    const inputs = Array.from({ length: 30 }, (_, k) => ids.map((scheduleId) => ({ scheduleId, fireTime: new Date(base + k * 1000), slot }))).flat();
    const results = await store.schedules.fireMany(inputs);
    expect(results.filter((r) => r.outcome === "created")).toHaveLength(1200);
    const again = await store.schedules.fireMany(inputs);
    expect(again.filter((r) => r.outcome === "exists")).toHaveLength(1200);
    expect(await instancesOf(store, project.id)).toHaveLength(1200);
    for (const id of ids) expect((await store.schedules.get(id))!.lastFireTime!.getTime()).toBe(base + 29_000);
    // More distinct schedules than Postgres gets as an array (ids that do not exist are fine):
    // the set-join form of the statements answers the same.
    const unknown = Array.from({ length: 1500 }, (_, k) => 1_000_000 + k);
    const late = new Date(base + 60_000);
    const wide = await store.schedules.fireMany([...unknown, ...ids].map((scheduleId) => ({ scheduleId, fireTime: late, slot })));
    expect(wide.slice(0, 1500).every((r) => r.outcome === "skipped" && !r.scheduleActive)).toBe(true);
    expect(wide.slice(1500).every((r) => r.outcome === "created")).toBe(true);
    await store.schedules.advanceCursors([...unknown, ...ids], new Date(base + 90_000));
    for (const id of ids) expect((await store.schedules.get(id))!.lastFireTime!.getTime()).toBe(base + 90_000);
  }, 60_000);

  test("notBefore: a batch handed over early creates nothing (and stamps nothing) before that instant; more than a second ahead is refused", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("early"), actor);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor)).id);
    // A fire time 300 ms ahead, as the scheduler hands a batch over its lead before the fire.
    const fireTime = new Date(Date.now() + 300);
    const firing = store.schedules.fireMany(ids.map((scheduleId) => ({ scheduleId, fireTime, slot })), { notBefore: fireTime });
    // The rows go in ahead of the instant, but another connection sees none of them before it: the
    // transaction commits only then.
    await Bun.sleep(150);
    expect(Date.now()).toBeLessThan(fireTime.getTime());
    expect(Number((await rawQuery(store.url, "SELECT count(*) AS n FROM workflow_instances"))[0]!.n)).toBe(0);
    const results = await firing;
    expect(Date.now()).toBeGreaterThanOrEqual(fireTime.getTime());
    expect(results.every((r) => r.outcome === "created")).toBe(true);
    const created = await instancesOf(store, project.id);
    expect(created).toHaveLength(5);
    for (const i of created) {
      expect(i.scheduleTime!.getTime()).toBe(fireTime.getTime());
      expect(i.createdAt.getTime()).toBeGreaterThanOrEqual(fireTime.getTime());
    }
    const far = new Date(Date.now() + 5000);
    await expect(store.schedules.fireMany([{ scheduleId: ids[0]!, fireTime: far, slot }], { notBefore: far })).rejects.toThrow(/notBefore is \d+ ms ahead; expected at most 1000 ms/);
    expect(await instancesOf(store, project.id)).toHaveLength(5);
  });

  test("the scheduler's start: cursors move to one load instant together, catch-up fires go in batches", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("tick"), actor);
    const ids: { none: number[]; latest: number[] } = { none: [], latest: [] };
    for (let i = 0; i < 40; i++) {
      const catchup = i % 4 === 0 ? "latest" : "none";
      ids[catchup].push((await store.schedules.create(project.id, workflow.id, { cron: "0 * * * * ?", releaseState: "ONLINE", catchup }, actor)).id);
    }
    // Every schedule was last fired an hour and a half ago: ninety fires missed each.
    const cursor = Date.parse("2026-03-01T10:30:00Z");
    await rawQuery(store.url, dialect === "postgres" ? "UPDATE schedules SET last_fire_time = $1" : "UPDATE schedules SET last_fire_time = ?", [dialect === "postgres" ? new Date(cursor).toISOString() : cursor]);
    const load = new Date("2026-03-01T12:00:30Z");
    const bus = new MemoryBus();
    const coordinator = new SingleNodeCoordinator();
    await coordinator.start();
    const scheduler = new Scheduler({ store, bus, coordinator, log: silentLogger, now: () => load });
    await scheduler.start();
    await scheduler.stop();
    await bus.close();
    expect(scheduler.size).toBe(40);
    for (const id of ids.none) expect((await store.schedules.get(id))!.lastFireTime!.getTime()).toBe(load.getTime());
    const latest = Date.parse("2026-03-01T12:00:00Z");
    for (const id of ids.latest) expect((await store.schedules.get(id))!.lastFireTime!.getTime()).toBe(latest);
    const fired = (await instancesOf(store, project.id)).map((i) => [i.scheduleId, i.scheduleTime!.getTime()]);
    expect(fired.sort((x, y) => x[0]! - y[0]!)).toEqual(ids.latest.map((id) => [id, latest]));
  });
});
