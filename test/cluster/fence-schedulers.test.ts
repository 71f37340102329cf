// Schedules fired by the owners of their slots (docs/architecture.md §3.3, §3.5): two schedulers
// on one Postgres database, each with a coordinator holding a disjoint set of slots and a store
// fenced by its node (store.fenceWith). The lease rows are written by the test, as the Postgres
// Coordinator would write them. Checked: every (schedule, second) fires exactly once, by the
// owner of the schedule's slot; a slot handed over (lost here, acquired there) keeps firing
// without a gap; a master that never heard it lost a slot (a partitioned one) keeps trying, and
// the store refuses its fires ("stale") while the new owner fires them.
import { expect, test } from "bun:test";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { type Coordinator, type SlotChange, type SlotLease, type SlotListener, slotOfInstance } from "../../src/coordinator/coordinator.ts";
import { silentLogger } from "../../src/core/log.ts";
import { Scheduler } from "../../src/master/scheduler/scheduler.ts";
import { openStore } from "../../src/store/open.ts";
import type { FireInput, Store } from "../../src/store/store.ts";
import { freshStore, rawQuery } from "../helpers/stores.ts";
import { definition, userWithProject } from "../integration/store/fixtures.ts";

const SLOTS = 8;

/** A coordinator the test drives: it holds what the test says and reports the changes it is told to. */
class ScriptedCoordinator implements Coordinator {
  readonly slotCount = SLOTS;
  private readonly held = new Map<number, SlotLease>();
  private readonly listeners = new Set<SlotListener>();
  constructor(readonly nodeId: string) {}
  slotOf(id: number): number {
    return slotOfInstance(id, SLOTS);
  }
  ownedSlots(): readonly number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }
  lease(slot: number): SlotLease | null {
    return this.held.get(slot) ?? null;
  }
  onChange(listener: SlotListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  acquire(slots: readonly number[], epoch: number, report = true): void {
    const acquired = slots.map((slot) => ({ slot, owner: this.nodeId, epoch, expiresAt: Date.now() + 3_600_000 }));
    for (const l of acquired) this.held.set(l.slot, l);
    if (report) this.emit({ acquired, lost: [] });
  }
  lose(slots: readonly number[]): void {
    const lost = slots.map((slot) => this.held.get(slot)!).filter(Boolean);
    for (const l of lost) this.held.delete(l.slot);
    this.emit({ acquired: [], lost });
  }
  private emit(change: SlotChange): void {
    for (const l of [...this.listeners]) l(change);
  }
}

async function writeLeases(url: string, slots: readonly number[], owner: string, epoch: number): Promise<void> {
  await rawQuery(
    url,
    `INSERT INTO slot_leases (slot, owner, epoch, expires_at) SELECT s, $2, $3, now() + interval '1 hour' FROM unnest($1::int[]) AS s
     ON CONFLICT (slot) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at`,
    [`{${slots.join(",")}}`, owner, epoch],
  );
}

/** The node's store, fenced by it, recording every fire it created and every fire refused to it. */
function recording(store: Store, log: { created: [number, number, number][]; stale: [number, number][] }): Store {
  const fireMany = async (inputs: readonly FireInput[], options?: { notBefore?: Date }) => {
    const results = await store.schedules.fireMany(inputs, options);
    results.forEach((r, i) => {
      const { scheduleId, fireTime } = inputs[i]!;
      if (r.outcome === "created") log.created.push([scheduleId, fireTime.getTime(), Date.now()]);
      if (r.outcome === "stale") log.stale.push([scheduleId, fireTime.getTime()]);
    });
    return results;
  };
  return { ...store, schedules: { ...store.schedules, fireMany } };
}

test("two schedulers on disjoint slots: each (schedule, second) once, by its slot's owner, across a handover and a partition", async () => {
  await using store = await freshStore("postgres");
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("tick"), actor);
  const schedules: number[] = [];
  for (let i = 0; i < 24; i++) schedules.push((await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE" }, actor)).id);
  const slotOf = (id: number) => slotOfInstance(id, SLOTS);

  const nodes = ["A", "B"].map((id) => ({ id, coordinator: new ScriptedCoordinator(id), log: { created: [] as [number, number, number][], stale: [] as [number, number][] } }));
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  await writeLeases(store.url, [0, 1, 2, 3], "A", 1);
  await writeLeases(store.url, [4, 5, 6, 7], "B", 1);
  a.coordinator.acquire([0, 1, 2, 3], 1, false);
  b.coordinator.acquire([4, 5, 6, 7], 1, false);
  const stores = await Promise.all(nodes.map(() => openStore({ url: store.url, migrate: false })));
  const buses = nodes.map(() => new MemoryBus());
  const schedulers = nodes.map((node, i) => {
    stores[i]!.fenceWith(node.id);
    return new Scheduler({ store: recording(stores[i]!, node.log), bus: buses[i]!, coordinator: node.coordinator, log: silentLogger });
  });
  const begin = Date.now();
  try {
    await Promise.all(schedulers.map((s) => s.start()));
    expect(schedulers[0]!.size + schedulers[1]!.size).toBe(schedules.length);
    await Bun.sleep(2500);

    // A hands slots 0 and 1 over: it reports them lost, the lease moves on (epoch 2), B acquires them.
    const handover = Date.now();
    a.coordinator.lose([0, 1]);
    // Longer than a second: at least one fire of slots 0 and 1 falls due while nobody holds them,
    // and B replays it on acquiring (scheduler.ts HANDOVER_REPLAY_MS).
    await Bun.sleep(1300);
    await writeLeases(store.url, [0, 1], "B", 2);
    b.coordinator.acquire([0, 1], 2);

    // Slot 2 is taken over behind A's back (A is cut off and never learns it): A keeps firing
    // slot 2 as far as it knows, the store refuses it.
    await Bun.sleep(1200);
    const partition = Date.now();
    await writeLeases(store.url, [2], "B", 2);
    b.coordinator.acquire([2], 2);
    await Bun.sleep(2500);
    const end = Date.now();
    await Promise.all(schedulers.map((s) => s.stop()));

    const created = [...a.log.created.map((c) => ({ node: "A", c })), ...b.log.created.map((c) => ({ node: "B", c }))];
    // Exactly once: no (schedule, second) created twice (by one node or by both).
    const keys = created.map(({ c }) => `${c[0]}:${c[1]}`);
    expect(new Set(keys).size).toBe(keys.length);
    // The store agrees with what the nodes were told.
    const [{ n }] = (await rawQuery(store.url, "SELECT count(*)::int AS n FROM workflow_instances WHERE schedule_id IS NOT NULL")) as [{ n: number }];
    expect(n).toBe(keys.length);
    // By the owner of the slot at fire time.
    for (const { node, c } of created) {
      const [id, fireTime] = c;
      const slot = slotOf(id);
      const owner = slot >= 4 ? "B" : slot === 2 ? (fireTime < partition ? "A" : "B") : slot <= 1 ? (fireTime < handover ? "A" : "B") : "A";
      // A fire in flight as the slot changes hands may land on either side of the instant.
      if (Math.abs(fireTime - (slot === 2 ? partition : handover)) < 1000 && slot <= 2) continue;
      expect(`${node} fired schedule ${id} (slot ${slot}) at ${fireTime - begin}`).toBe(`${owner} fired schedule ${id} (slot ${slot}) at ${fireTime - begin}`);
    }
    // No gap: every schedule fired every whole second from its first fire to the last full second.
    for (const id of schedules) {
      const times = created.filter(({ c }) => c[0] === id).map(({ c }) => c[1]).sort((x, y) => x - y);
      expect(times.length).toBeGreaterThan(0);
      const last = Math.floor((end - 1000) / 1000) * 1000;
      for (let t = times[0]!; t <= last; t += 1000) expect(`${id}@${t - begin}: ${times.includes(t)}`).toBe(`${id}@${t - begin}: true`);
    }
    // A kept trying slot 2 after the takeover, and was refused each time.
    const slot2 = schedules.filter((id) => slotOf(id) === 2);
    if (slot2.length > 0) {
      expect(a.log.stale.filter(([id, t]) => slot2.includes(id) && t > partition).length).toBeGreaterThan(0);
      expect(a.log.created.filter(([id, t]) => slot2.includes(id) && t > partition + 1000)).toEqual([]);
    }
  } finally {
    await Promise.all(schedulers.map((s) => s.stop()));
    await Promise.all(buses.map((bus) => bus.close()));
    await Promise.all(stores.map((s) => s.close()));
  }
}, 60_000);
