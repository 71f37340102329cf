// The backfill Store contract (both dialects): advance creates only what the run mode has room
// for, in plan order, and two connections advancing at once never create a run twice.

import { describe, expect, test } from "bun:test";
import { openStore } from "../../../src/store/open.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, firstPage, system as actor, userWithProject } from "./fixtures.ts";

async function setup(store: Store) {
  const { project, actor: owner } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), owner);
  return { projectId: project.id, workflowId: workflow.id };
}

const plan = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"].map((d) => new Date(`${d}T00:00:00Z`));
const input = (ids: { projectId: number; workflowId: number }) => ({
  ...ids,
  scheduleId: null,
  runMode: "parallel" as const,
  maxParallelism: 2,
  onFailure: "continue" as const,
  failureStrategy: "END" as const,
  priority: "MEDIUM" as const,
  workerGroup: "default",
  params: {},
  plan,
});

describe.each(dialects)("backfills store (%s)", (dialect) => {
  test("advance fills the room in plan order, then nothing until a run ends; an audit row records the create", async () => {
    await using store = await freshStore(dialect);
    const b = await store.backfills.create(input(await setup(store)), actor);
    const first = await store.backfills.advance(b.id, () => 3);
    expect(first.map((i) => [i.scheduleTime?.toISOString(), i.runType, i.backfillId, i.slot])).toEqual(plan.slice(0, 2).map((d) => [d.toISOString(), "COMPLEMENT_DATA", b.id, 3]));
    expect(await store.backfills.advance(b.id, () => 3)).toEqual([]);
    expect(await store.backfills.get(b.id)).toMatchObject({ state: "RUNNING", created: 2, total: 4 });
    const audit = await store.audit.list(firstPage);
    expect(audit.items.filter((e) => e.action === "backfill.create").map((e) => e.objectId)).toEqual([String(b.id)]);
  });

  test("two connections advancing at once create each run once", async () => {
    await using store = await freshStore(dialect);
    const b = await store.backfills.create(input(await setup(store)), actor);
    // SQLite has one writer; there the race is between concurrent calls on one store.
    const other = dialect === "postgres" ? await openStore({ url: store.url, migrate: false }) : store;
    await using _closeOther = { [Symbol.asyncDispose]: () => (other === store ? Promise.resolve() : other.close()) };
    const created = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).backfills.advance(b.id, () => 0)));
    expect(created.flat()).toHaveLength(2);
    expect((await store.backfills.runs(b.id)).map((r) => r.instanceId !== null)).toEqual([true, true, false, false]);
  });
});
