// The Coordinator contract (src/coordinator/coordinator.ts) for a node that is
// alone in its cluster: call coordinatorContract(name, makeHarness) from a test
// file. A harness is a fresh, not yet started coordinator (Postgres: a fresh
// database) stopped and cleaned up on dispose. Join/leave/takeover scenarios
// need several nodes and belong to the cluster implementation's own tests.

import { describe, expect, test } from "bun:test";
import { type Coordinator, type SlotChange, slotOfInstance } from "../../../src/coordinator/coordinator.ts";
import { ValidationError } from "../../../src/core/errors.ts";
import { waitFor } from "./wait.ts";

export interface CoordinatorHarness extends AsyncDisposable {
  coordinator: Coordinator;
}

/**
 * Fixed answers of the slot hash for 64 slots. They must never change: every
 * process of a cluster (and every stored task-instance slot) depends on them.
 */
export const SLOT_VECTORS_64: ReadonlyArray<readonly [number, number]> = [
  [0, 0], [1, 55], [2, 6], [3, 39], [42, 28], [1000, 24], [65535, 39],
  [4294967296, 17], [4294967297, 20], [9007199254740991, 33],
];

function expectInvalid(fn: () => unknown, path: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  expect(v.details.map((d) => d.path)).toContain(path);
  expect(v.message).toContain(path);
}

export function coordinatorContract(name: string, makeHarness: () => Promise<CoordinatorHarness>): void {
  describe(`Coordinator contract: ${name}`, () => {
    test("owns nothing before start, every slot after, and nothing after stop", async () => {
      await using h = await makeHarness();
      const c = h.coordinator;
      const changes: SlotChange[] = [];
      c.onChange((change) => void changes.push(change));
      expect(c.ownedSlots()).toEqual([]);
      const all = Array.from({ length: c.slotCount }, (_, i) => i);

      await c.start();
      await waitFor(() => c.ownedSlots().length === c.slotCount, "all slots owned by the lone node");
      expect([...c.ownedSlots()]).toEqual(all);
      expect(changes.flatMap((ch) => ch.acquired.map((l) => l.slot)).sort((a, b) => a - b)).toEqual(all);
      for (const slot of all) {
        const lease = c.lease(slot)!;
        expect(lease).toMatchObject({ slot, owner: c.nodeId });
        expect(Number.isInteger(lease.epoch) && lease.epoch >= 1).toBe(true);
        expect(lease.expiresAt).toBeGreaterThan(Date.now());
      }

      const acquiredChanges = changes.length;
      await c.start();
      expect(changes.length).toBe(acquiredChanges);

      await c.stop();
      expect(c.ownedSlots()).toEqual([]);
      const lost = changes.slice(acquiredChanges).flatMap((ch) => ch.lost);
      expect(lost.map((l) => l.slot).sort((a, b) => a - b)).toEqual(all);
      expect(lost.every((l) => l.owner === c.nodeId)).toBe(true);
      await c.stop();
      expect(changes.length).toBe(acquiredChanges + 1);
    });

    test("an unsubscribed listener hears nothing; a throwing one does not stop others", async () => {
      await using h = await makeHarness();
      const c = h.coordinator;
      let heard = 0;
      let unsubscribedHeard = 0;
      c.onChange(() => {
        throw new Error("listener bug");
      });
      const off = c.onChange(() => void unsubscribedHeard++);
      c.onChange(() => void heard++);
      off();
      await c.start();
      await waitFor(() => heard > 0, "slot change heard");
      expect(unsubscribedHeard).toBe(0);
      await c.stop();
    });

    test("slotOf is the shared stable hash, with fixed answers", async () => {
      await using h = await makeHarness();
      const c = h.coordinator;
      for (let id = 0; id < 5_000; id++) expect(c.slotOf(id)).toBe(slotOfInstance(id, c.slotCount));
      for (const [id, slot] of SLOT_VECTORS_64) expect(slotOfInstance(id, 64)).toBe(slot);
    });

    test("slotOf spreads sequential and strided ids evenly", () => {
      const patterns: Record<string, (i: number) => number> = {
        sequential: (i) => i + 1,
        "stride 64": (i) => (i + 1) * 64,
        "stride 4096": (i) => (i + 1) * 4096,
        "high bits only": (i) => (i + 1) * 2 ** 32,
      };
      for (const [pattern, idOf] of Object.entries(patterns)) {
        const counts = new Array<number>(64).fill(0);
        for (let i = 0; i < 64_000; i++) counts[slotOfInstance(idOf(i), 64)]!++;
        const [min, max] = [Math.min(...counts), Math.max(...counts)];
        expect({ pattern, ok: min >= 850 && max <= 1150 }).toEqual({ pattern, ok: true });
      }
    });

    test("rejects bad instance ids and slots naming what is expected", async () => {
      await using h = await makeHarness();
      const c = h.coordinator;
      for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) expectInvalid(() => c.slotOf(bad), "instanceId");
      expectInvalid(() => c.lease(-1), "slot");
      expectInvalid(() => c.lease(c.slotCount), "slot");
      expectInvalid(() => c.lease(0.5), "slot");
      expectInvalid(() => slotOfInstance(1, 0), "slotCount");
    });
  });
}
