// A command's two phases (docs/architecture.md §3.5, src/store/commands.ts): claimNext makes it
// CLAIMED, and it becomes CONSUMED only with its effect — `complete`, the `command` op of a group
// commit (applied only if the ops it names were), or the restart transaction of a rerun / resume /
// recover-failed. A claim nobody carries out (its master was killed -9) is re-opened by the slot's
// owner (`reopen`). On Postgres with store.fenceWith, marks and re-opens need the slot's lease.
import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../../src/core/errors.ts";
import type { Actor, CommandType, Store } from "../../../src/store/store.ts";
import { dialects, freshStore, setLease } from "../../helpers/stores.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function setUp(store: Store) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  const instance = async (slot: number, state: "RUNNING_EXECUTION" | "FAILURE" = "RUNNING_EXECUTION") =>
    (await store.instances.create({ workflowId: workflow.id, slot, epoch: 1, runType: "START_PROCESS", state })).id;
  const command = async (type: CommandType, workflowInstanceId: number) => (await store.commands.enqueue({ type, projectId: project.id, workflowId: workflow.id, workflowInstanceId }, actor as Actor)).id;
  const claim = async (consumer: string, slots: number[]) => (await store.commands.claimNext(consumer, 100, { slots })).map((c) => c.id);
  const state = async (id: number) => {
    const c = await store.commands.get(id);
    return c && { state: c.state, by: c.consumedBy };
  };
  return { instance, command, claim, state };
}

describe.each(dialects)("command claims on %s", (dialect) => {
  test("claimNext makes commands CLAIMED; complete makes them CONSUMED (again: still true); release gives back only its claimer's CLAIMED ones", async () => {
    await using store = await freshStore(dialect);
    const { instance, command, claim, state } = await setUp(store);
    const wi = await instance(1);
    const [a, b, c] = [await command("STOP", wi), await command("PAUSE", wi), await command("KILL_TASK", wi)];
    const claimed = await store.commands.claimNext("m1", 10, { slots: [1] });
    expect(claimed.map((x) => [x.id, x.state, x.consumedBy])).toEqual([
      [a, "CLAIMED", "m1"],
      [b, "CLAIMED", "m1"],
      [c, "CLAIMED", "m1"],
    ]);
    expect(claimed[0]!.consumedAt).toBeInstanceOf(Date);
    expect(await claim("m2", [1])).toEqual([]); // CLAIMED is not claimable

    expect(await store.commands.complete(a, "m2")).toBe(false);
    expect(await store.commands.complete(a, "m1")).toBe(true);
    expect(await store.commands.complete(a, "m1")).toBe(true); // a retry whose first answer was lost
    expect(await state(a)).toEqual({ state: "CONSUMED", by: "m1" });
    expect(await store.commands.release(a, "m1")).toBe(false); // consumed: not given back

    expect(await store.commands.release(b, "m2")).toBe(false);
    expect(await store.commands.release(b, "m1")).toBe(true);
    expect(await state(b)).toEqual({ state: "PENDING", by: null });
    expect(await store.commands.complete(b, "m1")).toBe(false); // given back: not its claimer's any more
    expect(await claim("m2", [1])).toEqual([b]);
    expect(await state(c)).toEqual({ state: "CLAIMED", by: "m1" });
  });

  test("reopen: CLAIMED commands of the slots go back to PENDING — other nodes' always, the caller's own unless keepOwn; CONSUMED and other slots untouched", async () => {
    await using store = await freshStore(dialect);
    const { instance, command, claim, state } = await setUp(store);
    const [w1, w2, w3] = [await instance(1), await instance(2), await instance(3)];
    const byOther = await command("STOP", w1);
    const mine = await command("STOP", w2);
    const otherSlot = await command("STOP", w3);
    const done = await command("PAUSE", w1);
    expect(await claim("dead", [1])).toEqual([byOther, done]);
    expect(await store.commands.complete(done, "dead")).toBe(true);
    expect(await claim("me", [2])).toEqual([mine]);
    expect(await claim("dead", [3])).toEqual([otherSlot]);

    expect(await store.commands.reopen([], "me", false)).toEqual([]);
    expect(await store.commands.reopen([1, 2], "me", true)).toEqual([byOther]);
    expect(await state(mine)).toEqual({ state: "CLAIMED", by: "me" });
    expect(await store.commands.reopen([1, 2], "me", false)).toEqual([mine]);
    expect(await state(byOther)).toEqual({ state: "PENDING", by: null });
    expect(await state(mine)).toEqual({ state: "PENDING", by: null });
    expect(await state(done)).toEqual({ state: "CONSUMED", by: "dead" });
    expect(await state(otherSlot)).toEqual({ state: "CLAIMED", by: "dead" });
    // The dead claimer's late mark finds nothing of its own.
    expect(await store.commands.complete(byOther, "dead")).toBe(false);
    expect(await claim("me", [1, 2])).toEqual([byOther, mine]);
    await expect(store.commands.reopen([-1], "me", false)).rejects.toBeInstanceOf(ValidationError);
  });

  test("a command op of a group commit: CONSUMED with its effect, or not at all", async () => {
    await using store = await freshStore(dialect);
    const { instance, command, claim, state } = await setUp(store);
    const wi = await instance(1);
    const [stop, kill, nothing, reopened] = [await command("STOP", wi), await command("KILL_TASK", wi), await command("PAUSE", wi), await command("STOP", wi)];
    expect(await claim("m1", [1])).toEqual([stop, kill, nothing, reopened]);
    await store.commands.reopen([1], "m2", false);
    expect(await claim("m2", [1])).toEqual([stop, kill, nothing, reopened]);

    const out = await store.taskInstances.applyBatch([
      { op: "instance", id: wi, from: ["RUNNING_EXECUTION"], to: "READY_STOP", epoch: 1 },
      { op: "command", id: stop, consumer: "m2", after: [0] },
      // Its effect is stale (it expects PAUSE; the instance is READY_STOP by then): not consumed.
      { op: "instance", id: wi, from: ["PAUSE"], to: "READY_STOP", epoch: 1 },
      { op: "command", id: kill, consumer: "m2", after: [2] },
      // Nothing to do (a control found its instance ended): consumed alone.
      { op: "command", id: nothing, consumer: "m2", after: [] },
      // Claimed by someone else now: not this consumer's to mark.
      { op: "command", id: reopened, consumer: "m1", after: [0] },
    ]);
    expect(out.map((o) => o.outcome)).toEqual(["applied", "applied", "stale", "stale", "applied", "stale"]);
    expect(out[1]).toEqual({ outcome: "applied", id: stop });
    expect(await state(stop)).toEqual({ state: "CONSUMED", by: "m2" });
    expect(await state(kill)).toEqual({ state: "CLAIMED", by: "m2" });
    expect(await state(nothing)).toEqual({ state: "CONSUMED", by: "m2" });
    expect(await state(reopened)).toEqual({ state: "CLAIMED", by: "m2" });
    expect((await store.instances.get(wi))!.state).toBe("READY_STOP");
  });

  test("a restart with its command: CONSUMED in the same transaction; tried again, it is 'unclaimed' and restarts nothing; stale leaves it CLAIMED", async () => {
    await using store = await freshStore(dialect);
    const { instance, command, claim, state } = await setUp(store);
    const wi = await instance(1, "FAILURE");
    const rerun = await command("RERUN", wi);
    const other = await command("RERUN", wi);
    expect(await claim("m1", [1])).toEqual([rerun, other]);
    const change = (id: number, consumer = "m1") => ({ control: "rerun" as const, from: ["FAILURE" as const], epoch: 1, set: { runTimes: 2, endTime: null }, command: { id, consumer } });

    expect((await store.instances.restart(wi, change(rerun, "m2"))).outcome).toBe("unclaimed");
    expect((await store.instances.get(wi))!.state).toBe("FAILURE");
    expect(await state(rerun)).toEqual({ state: "CLAIMED", by: "m1" });

    const first = await store.instances.restart(wi, change(rerun));
    expect(first.outcome).toBe("submitted");
    expect(await state(rerun)).toEqual({ state: "CONSUMED", by: "m1" });
    // The instance ran and failed again; the same command tried once more (a retry, another master after a re-open) changes nothing.
    await store.instances.transition(wi, { from: ["SUBMITTED_SUCCESS"], to: "FAILURE", epoch: 1 });
    expect((await store.instances.restart(wi, { ...change(rerun), set: { runTimes: 3, endTime: null } })).outcome).toBe("unclaimed");
    expect((await store.instances.get(wi))).toMatchObject({ state: "FAILURE", runTimes: 2 });

    // Stale (the state moved on): nothing written, the command stays CLAIMED for the caller to decide.
    expect((await store.instances.restart(wi, { ...change(other), from: ["STOP"] })).outcome).toBe("stale");
    expect(await state(other)).toEqual({ state: "CLAIMED", by: "m1" });
  });
});


describe("command claims fenced by the slot lease (postgres)", () => {
  test("a node without the slot's lease cannot consume a claim nor re-open one; with it, it can", async () => {
    await using store = await freshStore("postgres");
    const { instance, command, claim, state } = await setUp(store);
    const wi = await instance(1);
    const [a, b] = [await command("STOP", wi), await command("STOP", wi)];
    expect(await claim("m1", [1])).toEqual([a, b]);
    await setLease(store, 1, { owner: "m2", epoch: 2, expiresInMs: 60_000 });
    store.fenceWith("m1");
    // m1 lost the slot: its mark is refused (it gives the command back; m2 re-opens it otherwise).
    expect(await store.commands.complete(a, "m1")).toBe(false);
    expect((await store.taskInstances.applyBatch([{ op: "command", id: a, consumer: "m1", after: [] }])).map((o) => o.outcome)).toEqual(["stale"]);
    expect(await store.commands.reopen([1], "m1", false)).toEqual([]);
    expect(await state(a)).toEqual({ state: "CLAIMED", by: "m1" });
    store.fenceWith("m2");
    expect(await store.commands.reopen([1], "m2", true)).toEqual([a, b]);
    expect(await claim("m2", [1])).toEqual([a, b]);
    expect(await store.commands.complete(a, "m2")).toBe(true);
    await setLease(store, 1, { owner: "m2", epoch: 2, expiresInMs: -1 });
    expect(await store.commands.complete(b, "m2")).toBe(false); // expired on the database clock
    expect(await state(b)).toEqual({ state: "CLAIMED", by: "m2" });
  });
});
