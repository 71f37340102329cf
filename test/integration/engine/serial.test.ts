// Execution types of concurrent instances of one workflow (issue 4), on the real engine:
// SERIAL_WAIT queues in submission order and releases on ANY end, SERIAL_DISCARD stops a new
// run while one is active, SERIAL_PRIORITY keeps only the newest waiting run, a waiting run
// can be stopped, concurrent submissions never overlap, and the queue survives a restart.
// Tasks block on files in the data dir, so the test decides when each run ends.
import { describe, expect, test } from "bun:test";
import type { WorkflowInstance } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness, writeGate, type Harness } from "./harness.ts";

// Each run waits for `<dir>/go-<token>` then exits with the code in it.
const gated = (name: string, executionType: string) => ({
  name,
  executionType,
  tasks: [{ name: "work", type: "shell", script: "while [ ! -f '${dir}/go-${token}' ]; do sleep 0.02; done; exit $(cat '${dir}/go-${token}')" }],
});

async function submit(h: Harness, name: string, token: string): Promise<number> {
  return h.run(name, { params: { dir: h.dataDir, token } });
}
const release = (h: Harness, token: string, code = 0) => writeGate(h.dataDir, `go-${token}`, String(code));
const stateOf = async (h: Harness, id: number) => (await h.store.instances.get(id))!.state;
const running = (h: Harness, id: number) => h.waitFor(`instance ${id} task running`, async () => (await h.latest(id, "work"))?.state === "RUNNING_EXECUTION");
const discards = async (h: Harness) =>
  (await h.store.audit.list({ projectId: h.projectId, limit: 100, offset: 0 })).items.filter((a) => a.action === "instance.discard");

function noOverlap(instances: WorkflowInstance[]): void {
  const spans = instances.map((i) => [i.startTime!.getTime(), i.endTime!.getTime()] as const).sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < spans.length; k++) expect(spans[k]![0]).toBeGreaterThanOrEqual(spans[k - 1]![1]);
}

for (const dialect of dialects) {
  describe(`execution types (${dialect})`, () => {
    test("PARALLEL: two runs run at once", async () => {
      await using h = await harness(dialect);
      await h.save(gated("par", "PARALLEL"));
      const a = await submit(h, "par", "a");
      const b = await submit(h, "par", "b");
      await running(h, a);
      await running(h, b);
      release(h, "a");
      release(h, "b");
      expect((await h.waitState(a, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      expect((await h.waitState(b, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
    });

    test("SERIAL_WAIT: waiting runs start one at a time in submission order, after SUCCESS, FAILURE and STOP of the running one; a waiting run can be stopped", async () => {
      await using h = await harness(dialect);
      await h.save(gated("ser", "SERIAL_WAIT"));
      const ids: number[] = [];
      for (const token of ["1", "2", "3", "4", "5"]) ids.push(await submit(h, "ser", token));
      const [i1, i2, i3, i4, i5] = ids as [number, number, number, number, number];
      await running(h, i1);
      for (const id of [i2, i3, i4, i5]) expect(await stateOf(h, id)).toBe("SERIAL_WAIT");
      expect(await h.tasks(i2)).toEqual([]);

      // Stop a waiting one: it ends STOP at once, never runs a task, and keeps no place in the queue.
      const stopped = await h.engine.client.control(i3, "stop", h.actor);
      expect(stopped.state).toBe("READY_STOP");
      expect((await h.waitState(i3, ["STOP"])).startTime).toBeNull();
      expect(await h.tasks(i3)).toEqual([]);

      release(h, "1", 1); // FAILURE releases the slot
      expect((await h.waitState(i1, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("FAILURE");
      await running(h, i2);
      expect(await stateOf(h, i4)).toBe("SERIAL_WAIT");

      await h.engine.client.control(i2, "stop", h.actor); // STOP releases the slot
      expect((await h.waitState(i2, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("STOP");
      await running(h, i4);
      expect(await stateOf(h, i5)).toBe("SERIAL_WAIT");

      release(h, "4");
      await running(h, i5);
      release(h, "5");
      expect((await h.waitState(i5, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      expect((await h.store.instances.get(i4))!.state).toBe("SUCCESS");
      expect(await h.tasks(i3)).toEqual([]);
      const ran = await Promise.all([i1, i2, i4, i5].map(async (id) => (await h.store.instances.get(id))!));
      noOverlap(ran);
    });

    test("SERIAL_WAIT: runs submitted concurrently never overlap", async () => {
      await using h = await harness(dialect);
      // Every run is gated, so none can end (and let the next in) before the states are read.
      await h.save(gated("burst", "SERIAL_WAIT"));
      const tokens = Array.from({ length: 6 }, (_, k) => `burst-${k}`);
      const ids = await Promise.all(tokens.map((token) => submit(h, "burst", token)));
      const created = await Promise.all(ids.map((id) => stateOf(h, id)));
      // Exactly one was let in at creation; the others queued.
      expect(created.filter((s) => s !== "SERIAL_WAIT")).toHaveLength(1);
      for (const token of tokens) release(h, token);
      const ended = await Promise.all(ids.map((id) => h.waitState(id, ["SUCCESS", "FAILURE", "STOP"])));
      expect(ended.map((i) => i.state)).toEqual(ids.map(() => "SUCCESS"));
      noOverlap(ended);
      // Submission order: start times follow ids.
      const byId = [...ended].sort((a, b) => a.id - b.id);
      const first = byId.find((i) => created[ids.indexOf(i.id)] !== "SERIAL_WAIT")!;
      const waiting = byId.filter((i) => i !== first).map((i) => i.startTime!.getTime());
      expect(waiting).toEqual([...waiting].sort((a, b) => a - b));
    });

    test("SERIAL_WAIT: PAUSE of the running one releases the slot", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "pz", executionType: "SERIAL_WAIT", tasks: [
        { name: "work", type: "shell", script: "while [ ! -f '${dir}/go-${token}' ]; do sleep 0.02; done" },
        { name: "after", type: "noop", deps: ["work"] },
      ] });
      const a = await submit(h, "pz", "a");
      const b = await submit(h, "pz", "b");
      await running(h, a);
      expect(await stateOf(h, b)).toBe("SERIAL_WAIT");
      await h.engine.client.control(a, "pause", h.actor);
      // The control is a command the master applies; release the task only once the pause holds,
      // or the task could finish first and the run end SUCCESS.
      await h.waitState(a, ["READY_PAUSE"]);
      release(h, "a");
      expect((await h.waitState(a, ["PAUSE", "SUCCESS", "FAILURE", "STOP"])).state).toBe("PAUSE");
      await running(h, b);
      release(h, "b");
      expect((await h.waitState(b, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
    });

    test("SERIAL_DISCARD: a run submitted while one is active ends STOP at once, with the reason in the audit log", async () => {
      await using h = await harness(dialect);
      await h.save(gated("dis", "SERIAL_DISCARD"));
      const a = await submit(h, "dis", "a");
      const b = await submit(h, "dis", "b");
      const discarded = (await h.store.instances.get(b))!;
      expect(discarded.state).toBe("STOP");
      expect(discarded.endTime).not.toBeNull();
      expect(await h.tasks(b)).toEqual([]);
      const [entry] = await discards(h);
      expect(entry).toMatchObject({ objectId: String(b), details: { reason: "stop by serial_discard strategy", executionType: "SERIAL_DISCARD" } });
      await running(h, a);
      release(h, "a");
      expect((await h.waitState(a, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      // Nothing active any more: the next run runs.
      const c = await submit(h, "dis", "c");
      await running(h, c);
      release(h, "c");
      expect((await h.waitState(c, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      expect(await stateOf(h, b)).toBe("STOP");
    });

    test("SERIAL_PRIORITY: only the newest waiting run is kept; older waiting ones end STOP with the reason", async () => {
      await using h = await harness(dialect);
      await h.save(gated("pri", "SERIAL_PRIORITY"));
      const a = await submit(h, "pri", "a");
      await running(h, a);
      const b = await submit(h, "pri", "b");
      expect(await stateOf(h, b)).toBe("SERIAL_WAIT");
      const c = await submit(h, "pri", "c");
      expect(await stateOf(h, b)).toBe("STOP");
      expect(await stateOf(h, c)).toBe("SERIAL_WAIT");
      expect(await stateOf(h, a)).toBe("RUNNING_EXECUTION");
      const entries = await discards(h);
      expect(entries.map((e) => [e.objectId, e.details])).toEqual([
        [String(b), { reason: "stop by serial_priority strategy", executionType: "SERIAL_PRIORITY", workflowId: expect.any(Number), newerInstanceId: c }],
      ]);
      release(h, "a");
      await running(h, c);
      release(h, "c");
      expect((await h.waitState(c, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      expect(await h.tasks(b)).toEqual([]);
    });

    test("the queue survives an engine restart: a waiting run still starts after the running one ends", async () => {
      await using h = await harness(dialect);
      await h.save(gated("rs", "SERIAL_WAIT"));
      const a = await submit(h, "rs", "a");
      const b = await submit(h, "rs", "b");
      await running(h, a);
      expect(await stateOf(h, b)).toBe("SERIAL_WAIT");
      await h.restart(0);
      // Attempt 2 of a's task runs after the restart; b still waits behind it.
      await h.waitFor("attempt 2 of a's task running", async () => {
        const t = await h.latest(a, "work");
        return t?.attempt === 2 && t.state === "RUNNING_EXECUTION";
      });
      expect(await stateOf(h, b)).toBe("SERIAL_WAIT");
      release(h, "a");
      await running(h, b);
      release(h, "b");
      expect((await h.waitState(b, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      noOverlap([(await h.store.instances.get(a))!, (await h.store.instances.get(b))!]);
    });

    test("after a restart, a run whose predecessor ended while no master ran is let in", async () => {
      await using h = await harness(dialect);
      await h.save(gated("gap", "SERIAL_WAIT"));
      const a = await submit(h, "gap", "a");
      const b = await submit(h, "gap", "b");
      await running(h, a);
      await h.engine.stop(0);
      // The predecessor's end committed, but no master released the queue (as after a crash).
      const row = (await h.store.instances.get(a))!;
      expect(await h.store.instances.transition(a, { from: [row.state], to: "FAILURE", epoch: row.epoch, set: { endTime: new Date() } })).not.toBeNull();
      expect(await stateOf(h, b)).toBe("SERIAL_WAIT");
      await h.restart(0);
      await running(h, b);
      release(h, "b");
      expect((await h.waitState(b, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
    });
  });
}
