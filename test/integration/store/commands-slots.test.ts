// Commands claimed by owned slots (docs/architecture.md §3.3, §3.5): a master passes the slots it
// holds; it gets the commands of instances in those slots and the commands that have no instance
// yet (any master may create the instance), each command exactly once across claimers.
import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../../src/core/errors.ts";
import { openStore } from "../../../src/store/open.ts";
import type { Actor, Store } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function instancesInSlots(store: Store, slots: readonly number[]) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  const bySlot = new Map<number, number>();
  for (const slot of slots) bySlot.set(slot, (await store.instances.create({ workflowId: workflow.id, slot, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" })).id);
  return { project, actor, workflow, bySlot };
}

async function stop(store: Store, projectId: number, workflowInstanceId: number, actor: Actor) {
  return (await store.commands.enqueue({ type: "STOP", projectId, workflowInstanceId }, actor)).id;
}

describe.each(dialects)("claimNext by slots (%s)", (dialect) => {
  test("only commands of instances in the slots, and those without an instance; [] claims nothing", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow, bySlot } = await instancesInSlots(store, [1, 2, 3]);
    const s1 = await stop(store, project.id, bySlot.get(1)!, actor);
    const s2 = await stop(store, project.id, bySlot.get(2)!, actor);
    const start = (await store.commands.enqueue({ type: "START", projectId: project.id, workflowId: workflow.id }, actor)).id;
    const s3 = await stop(store, project.id, bySlot.get(3)!, actor);

    expect(await store.commands.claimNext("m1", 10, { slots: [] })).toEqual([]);
    expect((await store.commands.claimNext("m1", 10, { slots: [1, 3], types: ["STOP"] })).map((c) => c.id)).toEqual([s1, s3]);
    expect((await store.commands.claimNext("m2", 10, { slots: [7] })).map((c) => c.id)).toEqual([start]);
    expect((await store.commands.claimNext("m2", 10, { slots: [2] })).map((c) => [c.id, c.consumedBy])).toEqual([[s2, "m2"]]);
    expect(await store.commands.listPending(10)).toEqual([]);
    await expect(store.commands.claimNext("m1", 10, { slots: [-1] })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe("claimNext by slots, two nodes at once (postgres)", () => {
  test("disjoint slot sets claiming concurrently: each command consumed once, by the owner of its slot", async () => {
    await using store = await freshStore("postgres");
    const slots = [0, 1, 2, 3, 4, 5, 6, 7];
    const { project, actor, workflow, bySlot } = await instancesInSlots(store, slots);
    const slotOfCommand = new Map<number, number | null>();
    for (let i = 0; i < 200; i++) {
      const slot = slots[i % slots.length]!;
      if (i % 10 === 9) slotOfCommand.set((await store.commands.enqueue({ type: "START", projectId: project.id, workflowId: workflow.id }, actor)).id, null);
      else slotOfCommand.set(await stop(store, project.id, bySlot.get(slot)!, actor), slot);
    }
    const nodes = [
      { id: "m1", slots: [0, 1, 2, 3] },
      { id: "m2", slots: [4, 5, 6, 7] },
    ];
    const stores = await Promise.all(nodes.map(() => openStore({ url: store.url, migrate: false })));
    try {
      const claimed = await Promise.all(
        nodes.map(async (node, i) => {
          const got: number[] = [];
          // Small claims in a loop, as a master's command loop does, so the two interleave.
          for (;;) {
            const batch = await stores[i]!.commands.claimNext(node.id, 7, { slots: node.slots });
            if (batch.length === 0) return got;
            got.push(...batch.map((c) => c.id));
          }
        }),
      );
      const all = claimed.flat();
      expect(all.length).toBe(slotOfCommand.size);
      expect(new Set(all).size).toBe(all.length);
      nodes.forEach((node, i) => {
        for (const id of claimed[i]!) {
          const slot = slotOfCommand.get(id)!;
          if (slot !== null) expect(node.slots).toContain(slot);
        }
      });
      expect(await store.commands.listPending(10)).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
