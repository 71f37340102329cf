// porpoise_slot_of_instance (migration 0019) must be slotOfInstance (src/coordinator/coordinator.ts)
// to the bit: an API run's one-statement create writes the slot the database computes, and every
// master routes by the one the process computes (docs/architecture.md §3.3). Compared on real
// Postgres over ids that exercise both 32-bit halves and every slot count edge.

import { expect, test } from "bun:test";
import { slotOfInstance } from "../../../src/coordinator/coordinator.ts";
import { NotFoundError } from "../../../src/core/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { openStore } from "../../../src/store/open.ts";
import { freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

function sampleIds(): number[] {
  const ids = [0, 1, 2, 3, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 48, 2 ** 53 - 2, 2 ** 53 - 1];
  let x = 0x2545f491;
  for (let i = 0; i < 3000; i++) {
    // xorshift32, spread over [0, 2^53) by two draws
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const hi = x % 2 ** 21;
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    ids.push(i < 1000 ? i * 7919 : hi * 2 ** 32 + x);
  }
  return ids;
}

test("porpoise_slot_of_instance agrees with slotOfInstance on 3,016 ids × 6 slot counts; bad arguments are refused by name", async () => {
  await using store = await freshStore("postgres");
  const ids = sampleIds();
  for (const count of [1, 2, 7, 64, 1000, 4096]) {
    const rows = await rawQuery(store.url, "SELECT i::text AS id, porpoise_slot_of_instance(i, $2::integer) AS slot FROM unnest($1::bigint[]) AS i", [ids.map(String), count]);
    expect(rows.length).toBe(ids.length);
    const wrong = rows.filter((r) => Number(r.slot) !== slotOfInstance(Number(r.id), count));
    expect(wrong.slice(0, 3)).toEqual([]);
  }
  for (const [id, count] of [[-1, 64], [2 ** 53, 64], [1, 0], [1, 4097]]) {
    await expect(rawQuery(store.url, "SELECT porpoise_slot_of_instance($1::bigint, $2::integer)", [String(id), count])).rejects.toThrow(/id must be 0 to 2\^53-1 and slot_count 1 to 4096/);
  }
});

test("a create given the slot count draws its id and slot in the statement; ids ascend; refusals are the transaction's", async () => {
  await using store = await freshStore("postgres");
  const ctx = await userWithProject(store);
  const { workflow } = await store.workflows.create(ctx.project.id, definition("daily"), ctx.actor);
  const slot = (id: number) => slotOfInstance(id, 64);
  let last = 0;
  for (let i = 0; i < 20; i++) {
    const wi = await store.instances.create({ workflowId: workflow.id, slot, slotCount: 64, runType: "START_PROCESS", params: { i: String(i) } });
    expect(wi.id).toBeGreaterThan(last);
    expect(wi.slot).toBe(slotOfInstance(wi.id, 64));
    expect(wi).toMatchObject({ state: "SUBMITTED_SUCCESS", workflowVersion: 1, params: { i: String(i) } });
    last = wi.id;
  }
  await expect(store.instances.create({ workflowId: workflow.id, version: 9, slot, slotCount: 64, runType: "START_PROCESS" })).rejects.toThrow('workflow "daily" has no version 9 (its versions are 1 to 1)');
  await expect(store.instances.create({ workflowId: 4242, slot, slotCount: 64, runType: "START_PROCESS" })).rejects.toBeInstanceOf(NotFoundError);
  await store.workflows.setReleaseState(workflow.id, "OFFLINE", ctx.actor);
  await expect(store.instances.create({ workflowId: workflow.id, slot, slotCount: 64, runType: "START_PROCESS" })).rejects.toThrow('workflow "daily" is OFFLINE: bring it ONLINE to run it');
  expect(Number((await rawQuery(store.url, "SELECT count(*) AS n FROM workflow_instances"))[0]!.n)).toBe(20);
  // A slot function that disagrees with the database's is caught and said, not written silently,
  // and the committed run is not refused (a client retrying without an Idempotency-Key would
  // create it twice): it is moved to the process's slot, and the process stops using the function.
  await store.workflows.setReleaseState(workflow.id, "ONLINE", ctx.actor);
  const lines: string[] = [];
  const logged = await openStore({ url: store.url, migrate: false, log: createLogger({ level: "info", format: "text", write: (l) => lines.push(l) }) });
  try {
    const off = (id: number) => (slotOfInstance(id, 64) + 1) % 64;
    const moved = await logged.instances.create({ workflowId: workflow.id, slot: off, slotCount: 64, runType: "START_PROCESS" });
    expect(moved.slot).toBe(off(moved.id));
    expect((await rawQuery(store.url, "SELECT slot FROM workflow_instances WHERE id = $1", [moved.id]))[0]!.slot).toBe(off(moved.id));
    expect(lines.filter((l) => l.includes("must agree (migration 0019)") && l.includes(`moved the run to slot ${off(moved.id)}`))).toHaveLength(1);
    // From then on the id is drawn first and the slot is the process's: no second disagreement.
    for (let i = 0; i < 3; i++) {
      const next = await logged.instances.create({ workflowId: workflow.id, slot: off, slotCount: 64, runType: "START_PROCESS" });
      expect(next.slot).toBe(off(next.id));
    }
    expect(lines.filter((l) => l.includes("must agree"))).toHaveLength(1);
    expect(Number((await rawQuery(store.url, "SELECT count(*) AS n FROM workflow_instances"))[0]!.n)).toBe(24);
  } finally {
    await logged.close();
  }
});
