// Retention in the Store (issue 11), both dialects: old finished instances go with their attempts,
// log chunks and commands; running, recent and paused ones stay; so do the runs of a RUNNING
// backfill, a finished child of a running parent (and the parent of a running child), an instance
// with a rerun still pending, the instances of protected workflows, and on a fenced Postgres store
// the instances of slots the node does not hold. deleteInstance removes one finished instance with
// an audit row and refuses a running one naming its state.

import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError } from "../../../src/core/errors.ts";
import type { WorkflowState } from "../../../src/core/states.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, firstPage, system, userWithProject } from "./fixtures.ts";

const DAY = 86_400_000;
const now = Date.now();
const old = new Date(now - 40 * DAY);
const recent = new Date(now - DAY);
const cutoff = new Date(now - 30 * DAY);

type Fixture = Awaited<ReturnType<typeof setup>>;

async function setup(store: Store & { url: string }) {
  const { project, actor } = await userWithProject(store);
  const { workflow: daily } = await store.workflows.create(project.id, definition("daily"), actor);
  const { workflow: hourly } = await store.workflows.create(project.id, definition("hourly"), actor);
  const sqlite = store.dialect === "sqlite";
  /** An instance in `state`, ended (or last updated) at `at`, with one attempt and one log chunk. */
  const instance = async (workflowId: number, state: WorkflowState, at: Date, extra: Record<string, unknown> = {}) => {
    const wi = await store.instances.create({ workflowId, slot: (extra.slot as number) ?? 0, runType: "START_PROCESS", ...extra });
    const [ins] = await store.taskInstances.applyBatch([
      { op: "insert", workflowInstanceId: wi.id, taskName: "extract", taskType: "shell", attempt: 1, state: "SUCCESS", dispatchToken: "t", slot: wi.slot, epoch: 0, params: {} },
    ]);
    if (ins?.outcome !== "applied") throw new Error("attempt not inserted");
    await store.logChunks.append([{ taskInstanceId: ins.id, seq: 1, byteOffset: 0, data: new TextEncoder().encode("hello\n") }]);
    const ended = ["SUCCESS", "FAILURE", "STOP", "PAUSE"].includes(state) ? at : null;
    await rawQuery(
      store.url,
      sqlite
        ? "UPDATE workflow_instances SET state = ?, end_time = ?, updated_at = ? WHERE id = ?"
        : "UPDATE workflow_instances SET state = $1, end_time = $2::timestamptz, updated_at = $3::timestamptz WHERE id = $4",
      sqlite ? [state, ended?.getTime() ?? null, at.getTime(), wi.id] : [state, ended?.toISOString() ?? null, at.toISOString(), wi.id],
    );
    return { id: wi.id, taskInstanceId: ins.id };
  };
  const count = async (table: string, where = "1 = 1") => Number((await rawQuery(store.url, `SELECT count(*) AS n FROM ${table} WHERE ${where}`))[0]!.n);
  return { project, actor, daily, hourly, instance, count, url: store.url };
}

const ids = (removed: { id: number }[]) => removed.map((r) => r.id).sort((a, b) => a - b);
const sweepAll = async (store: Store, q: Partial<Parameters<Store["retention"]["sweep"]>[0]>) => {
  const all: number[] = [];
  for (;;) {
    const batch = await store.retention.sweep({ endedBefore: null, keepPerWorkflow: null, limit: 100, ...q });
    if (batch.length === 0) return all.sort((a, b) => a - b);
    all.push(...batch.map((r) => r.id));
  }
};

describe.each(dialects)("retention (%s)", (dialect) => {
  test("by age: old finished instances go with attempts, chunks and commands, in batches of the limit; running, paused and recent stay", async () => {
    await using store = await freshStore(dialect);
    const f: Fixture = await setup(store);
    const gone = [await f.instance(f.daily.id, "SUCCESS", old), await f.instance(f.daily.id, "FAILURE", old), await f.instance(f.hourly.id, "STOP", old)];
    const kept = [
      await f.instance(f.daily.id, "SUCCESS", recent),
      await f.instance(f.daily.id, "RUNNING_EXECUTION", old),
      await f.instance(f.daily.id, "PAUSE", old),
      await f.instance(f.daily.id, "SERIAL_WAIT", old),
    ];
    // A consumed command of a gone instance cascades away with it.
    const cmd = await store.commands.enqueue({ type: "RERUN", projectId: f.project.id, workflowInstanceId: gone[0]!.id }, system);
    await rawQuery(f.url, `UPDATE commands SET state = 'CONSUMED' WHERE id = ${cmd.id}`);

    const first = await store.retention.sweep({ endedBefore: cutoff, keepPerWorkflow: null, limit: 2 });
    expect(ids(first)).toEqual([gone[0]!.id, gone[1]!.id]);
    expect(first[0]).toMatchObject({ projectId: f.project.id, workflowId: f.daily.id });
    expect(ids(await store.retention.sweep({ endedBefore: cutoff, keepPerWorkflow: null, limit: 2 }))).toEqual([gone[2]!.id]);
    expect(await store.retention.sweep({ endedBefore: cutoff, keepPerWorkflow: null, limit: 2 })).toEqual([]);

    for (const g of gone) expect(await store.instances.get(g.id)).toBeNull();
    for (const k of kept) expect(await store.instances.get(k.id)).not.toBeNull();
    expect(await f.count("task_instances")).toBe(kept.length);
    expect(await f.count("task_log_chunks")).toBe(kept.length);
    expect(await f.count("commands")).toBe(0);
    // Neither rule: nothing to do.
    expect(await store.retention.sweep({ endedBefore: null, keepPerWorkflow: null, limit: 100 })).toEqual([]);
  }, 30_000);

  test("by count: each workflow keeps its newest finished instances; active ones neither count nor go", async () => {
    await using store = await freshStore(dialect);
    const f = await setup(store);
    const daily = [];
    for (let i = 0; i < 5; i++) daily.push(await f.instance(f.daily.id, "SUCCESS", recent));
    const running = await f.instance(f.daily.id, "RUNNING_EXECUTION", recent);
    const hourly = [await f.instance(f.hourly.id, "SUCCESS", recent), await f.instance(f.hourly.id, "FAILURE", recent)];
    expect(await sweepAll(store, { keepPerWorkflow: 2 })).toEqual(daily.slice(0, 3).map((d) => d.id));
    const left = await store.instances.list({ projectId: f.project.id, ...firstPage });
    expect(left.items.map((i) => i.id).sort((a, b) => a - b)).toEqual([daily[3]!.id, daily[4]!.id, running.id, hourly[0]!.id, hourly[1]!.id]);
    // Age or count: either rule removes.
    const oldOne = await f.instance(f.hourly.id, "SUCCESS", old);
    expect(await sweepAll(store, { endedBefore: cutoff, keepPerWorkflow: 5 })).toEqual([oldOne.id]);
  }, 30_000);

  test("a RUNNING backfill keeps its runs; once it ends they go", async () => {
    await using store = await freshStore(dialect);
    const f = await setup(store);
    const b = await store.backfills.create(
      { projectId: f.project.id, workflowId: f.daily.id, scheduleId: null, runMode: "parallel", maxParallelism: 1, onFailure: "continue", failureStrategy: "END", priority: "MEDIUM", workerGroup: "default", params: {}, plan: [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-02T00:00:00Z")] },
      system,
    );
    const run = await f.instance(f.daily.id, "SUCCESS", old, { backfillId: b.id });
    await rawQuery(f.url, `UPDATE workflow_instances SET backfill_id = ${b.id} WHERE id = ${run.id}`);
    expect(await sweepAll(store, { endedBefore: cutoff })).toEqual([]);
    await expect(store.retention.deleteInstance(run.id, f.actor)).rejects.toThrow(/backfill .* still RUNNING/);
    await rawQuery(f.url, `UPDATE backfills SET state = 'SUCCESS', created = 1 WHERE id = ${b.id}`);
    expect(await sweepAll(store, { endedBefore: cutoff })).toEqual([run.id]);
    // Its progress says the run was there and is gone, not that it never started.
    expect((await store.backfills.runs(b.id)).map((r) => [r.instanceId, r.state])).toEqual([[null, "REMOVED"], [null, "NOT_STARTED"]]);
    expect(await store.backfills.get(b.id)).toMatchObject({ state: "SUCCESS", created: 1 });
  }, 30_000);

  test("sub_workflow: a finished child of a running parent stays, and so does a finished parent of a running child", async () => {
    await using store = await freshStore(dialect);
    const f = await setup(store);
    const parent = await f.instance(f.daily.id, "RUNNING_EXECUTION", old);
    await rawQuery(f.url, `UPDATE task_instances SET state = 'RUNNING_EXECUTION', task_type = 'sub_workflow' WHERE id = ${parent.taskInstanceId}`);
    const child = await f.instance(f.hourly.id, "SUCCESS", old, { parentTaskInstanceId: parent.taskInstanceId });
    expect(await sweepAll(store, { endedBefore: cutoff })).toEqual([]);
    // Turned around: the parent ended (stopped), its child still runs.
    await rawQuery(f.url, `UPDATE workflow_instances SET state = 'STOP' WHERE id = ${parent.id}`);
    await rawQuery(f.url, `UPDATE workflow_instances SET state = 'RUNNING_EXECUTION' WHERE id = ${child.id}`);
    expect(await sweepAll(store, { endedBefore: cutoff })).toEqual([]);
    await expect(store.retention.deleteInstance(parent.id, f.actor)).rejects.toThrow(/sub_workflow parent or child/);
    await rawQuery(f.url, `UPDATE workflow_instances SET state = 'SUCCESS' WHERE id = ${child.id}`);
    expect(await sweepAll(store, { endedBefore: cutoff })).toEqual([parent.id, child.id]);
  }, 30_000);

  test("a pending rerun, a protected workflow and other slots keep their instances", async () => {
    await using store = await freshStore(dialect);
    const f = await setup(store);
    const rerun = await f.instance(f.daily.id, "FAILURE", old);
    await store.commands.enqueue({ type: "RERUN", projectId: f.project.id, workflowInstanceId: rerun.id }, system);
    const protectedOne = await f.instance(f.hourly.id, "SUCCESS", old);
    const otherSlot = await f.instance(f.daily.id, "SUCCESS", old, { slot: 7 });
    expect(await sweepAll(store, { endedBefore: cutoff, slots: [0], protectedWorkflows: [f.hourly.id] })).toEqual([]);
    await expect(store.retention.deleteInstance(rerun.id, f.actor)).rejects.toThrow(/RERUN command waiting/);
    expect(await sweepAll(store, { endedBefore: cutoff, slots: [7] })).toEqual([otherSlot.id]);
    expect(await sweepAll(store, { endedBefore: cutoff, slots: [] })).toEqual([]);
    expect(await sweepAll(store, { endedBefore: cutoff, slots: [0] })).toEqual([protectedOne.id]);
  }, 30_000);

  test("deleteInstance: a finished one goes with an audit row; a running one is refused naming its state; a gone one is 404", async () => {
    await using store = await freshStore(dialect);
    const f = await setup(store);
    const done = await f.instance(f.daily.id, "SUCCESS", recent);
    const running = await f.instance(f.daily.id, "RUNNING_EXECUTION", recent);
    const err = await store.retention.deleteInstance(running.id, f.actor).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain(`workflow instance ${running.id} is RUNNING_EXECUTION`);
    expect(await store.retention.deleteInstance(done.id, f.actor)).toEqual({ id: done.id, projectId: f.project.id, workflowId: f.daily.id });
    expect(await store.instances.get(done.id)).toBeNull();
    expect(await f.count("task_log_chunks")).toBe(1);
    const audit = (await store.audit.list({ ...firstPage, projectId: f.project.id })).items.find((e) => e.action === "workflow-instance.delete");
    expect(audit).toMatchObject({ actorName: "alice", objectType: "workflow-instance", objectId: String(done.id), details: { workflowId: f.daily.id } });
    await expect(store.retention.deleteInstance(done.id, f.actor)).rejects.toBeInstanceOf(NotFoundError);
  }, 30_000);

  test("presence and dependentTargets: what file sweeps and the sweeper ask", async () => {
    await using store = await freshStore(dialect);
    const f = await setup(store);
    const done = await f.instance(f.daily.id, "SUCCESS", old);
    const running = await f.instance(f.daily.id, "RUNNING_EXECUTION", old);
    const found = await store.retention.presence([done.id, running.id, 999_999]);
    expect([...found.keys()].sort((a, b) => a - b)).toEqual([done.id, running.id]);
    expect(found.get(done.id)!.endTime!.getTime()).toBe(old.getTime());
    expect(found.get(running.id)!.endTime).toBeNull();
    expect(await store.retention.dependentTargets()).toEqual([]);
    await store.taskInstances.applyBatch([
      { op: "insert", workflowInstanceId: running.id, taskName: "wait", taskType: "dependent", attempt: 1, state: "RUNNING_EXECUTION", dispatchToken: "d", slot: 0, epoch: 0, params: {} },
    ]);
    expect(await store.retention.dependentTargets()).toEqual([{ projectId: f.project.id, workflowId: f.daily.id, version: 1 }]);
  }, 30_000);

  if (dialect === "postgres") {
    test("fenced: a node sweeps only the slots whose lease it holds", async () => {
      await using store = await freshStore(dialect);
      const f = await setup(store);
      const mine = await f.instance(f.daily.id, "SUCCESS", old, { slot: 1 });
      const theirs = await f.instance(f.daily.id, "SUCCESS", old, { slot: 2 });
      await rawQuery(f.url, `INSERT INTO slot_leases (slot, owner, epoch, expires_at) VALUES (1, 'me', 1, now() + interval '1 minute'), (2, 'other', 1, now() + interval '1 minute')`);
      store.fenceWith("me");
      expect(await sweepAll(store, { endedBefore: cutoff })).toEqual([mine.id]);
      expect(await store.instances.get(theirs.id)).not.toBeNull();
    }, 30_000);
  }
});
