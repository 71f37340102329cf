// Backfill runs and the rest of the engine, both dialects: a paused run holds a serial backfill
// (resumed, it goes on), a run the user stops ends it STOPPED (not FAILURE), a stopped waiting run
// moves it on, and its runs pass the workflow's serial execution type like any other run — they
// wait behind a manual run of a SERIAL_WAIT workflow and never overlap one another. Runs block on
// files named after their day (system.biz.curdate), so the test decides when each one ends.
import { describe, expect, test } from "bun:test";
import type { WorkflowInstance } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness, writeGate, type Harness } from "./harness.ts";

const gated = (name: string, executionType = "PARALLEL") => ({
  name,
  executionType,
  tasks: [
    { name: "work", type: "shell", script: "while [ ! -f '${dir}/go-${system.biz.curdate}' ]; do sleep 0.02; done; exit $(cat '${dir}/go-${system.biz.curdate}')" },
    { name: "after", type: "noop", deps: ["work"] },
  ],
});
const release = (h: Harness, day: string, code = 0) => writeGate(h.dataDir, `go-${day}`, String(code));
const DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"];
const ENDED = ["SUCCESS", "FAILURE", "STOP", "PAUSE"];

async function backfill(h: Harness, workflow: string, opts: { runMode?: "serial" | "parallel"; maxParallelism?: number } = {}) {
  const wf = (await h.store.workflows.get(h.projectId, workflow))!;
  const b = await h.store.backfills.create(
    {
      projectId: h.projectId,
      workflowId: wf.id,
      scheduleId: null,
      runMode: opts.runMode ?? "serial",
      maxParallelism: opts.maxParallelism ?? 1,
      onFailure: "stop",
      failureStrategy: "END",
      priority: "MEDIUM",
      workerGroup: "default",
      params: { dir: h.dataDir },
      plan: DAYS.map((d) => new Date(`${d}T00:00:00Z`)),
    },
    h.actor,
  );
  await h.engine.client.advanceBackfill!(b.id);
  return b.id;
}
const runOf = async (h: Harness, id: number, k: number) =>
  h.waitFor(`backfill ${id} run ${k} created`, async () => (await h.store.backfills.runs(id))[k]?.instanceId ?? null);
const workRunning = (h: Harness, id: number) => h.waitFor(`instance ${id} running work`, async () => (await h.latest(id, "work"))?.state === "RUNNING_EXECUTION");
const backfillEnds = (h: Harness, id: number) =>
  h.waitFor(`backfill ${id} ended`, async () => {
    const b = await h.store.backfills.get(id);
    return b && b.state !== "RUNNING" ? b : null;
  });
function noOverlap(instances: WorkflowInstance[]): void {
  const spans = instances.map((i) => [i.startTime!.getTime(), i.endTime!.getTime()] as const).sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < spans.length; k++) expect(spans[k]![0]).toBeGreaterThanOrEqual(spans[k - 1]![1]);
}

for (const dialect of dialects) {
  describe(`backfill runs in the engine (${dialect})`, () => {
    test("serial: a paused run is no failure — the backfill waits for it and goes on once it is resumed", async () => {
      await using h = await harness(dialect);
      await h.save(gated("daily"));
      const id = await backfill(h, "daily");
      const first = await runOf(h, id, 0);
      await workRunning(h, first);
      await h.engine.client.control(first, "pause", h.actor);
      await h.waitState(first, ["READY_PAUSE"]);
      release(h, "20260101");
      expect((await h.waitState(first, ENDED)).state).toBe("PAUSE");
      // The end was seen (the master advances on every end) and nothing moved on.
      await h.waitFor("the advance after the pause", async () => (await h.store.backfills.get(id))!.updatedAt >= (await h.store.instances.get(first))!.endTime!);
      expect(await h.store.backfills.get(id)).toMatchObject({ state: "RUNNING", created: 1, succeeded: 0, failed: 0 });
      expect((await h.store.backfills.runs(id)).map((r) => r.state)).toEqual(["PAUSE", "NOT_STARTED", "NOT_STARTED"]);

      await h.engine.client.control(first, "resume", h.actor);
      release(h, "20260102");
      release(h, "20260103");
      expect(await backfillEnds(h, id)).toMatchObject({ state: "SUCCESS", created: 3, succeeded: 3, failed: 0 });
    });

    test("serial: a run the user stops ends the backfill STOPPED, not FAILURE; nothing after it is created", async () => {
      await using h = await harness(dialect);
      await h.save(gated("daily"));
      const id = await backfill(h, "daily");
      const first = await runOf(h, id, 0);
      await workRunning(h, first);
      await h.engine.client.control(first, "stop", h.actor);
      expect(await h.waitState(first, ENDED)).toMatchObject({ state: "STOP", message: "stop requested by alice" });
      expect(await backfillEnds(h, id)).toMatchObject({ state: "STOPPED", created: 1, succeeded: 0, failed: 0 });
    });

    test("SERIAL_WAIT workflow: a backfill run waits behind a manual run; a parallel backfill's runs never overlap", async () => {
      await using h = await harness(dialect);
      await h.save(gated("serial", "SERIAL_WAIT"));
      const manual = await h.run("serial", { params: { dir: h.dataDir } });
      await workRunning(h, manual);
      const today = (await h.latest(manual, "work"))!.params["system.biz.curdate"]!;
      const id = await backfill(h, "serial", { runMode: "parallel", maxParallelism: 3 });
      const runs = [await runOf(h, id, 0), await runOf(h, id, 1), await runOf(h, id, 2)];
      for (const r of runs) expect((await h.store.instances.get(r))!.state).toBe("SERIAL_WAIT");
      release(h, today);
      for (const day of ["20260101", "20260102", "20260103"]) release(h, day);
      expect(await backfillEnds(h, id)).toMatchObject({ state: "SUCCESS", succeeded: 3 });
      noOverlap(await Promise.all([manual, ...runs].map(async (r) => (await h.store.instances.get(r))!)));
    });

    test("SERIAL_PRIORITY workflow: a backfill run superseded while it waits ends the serial backfill STOPPED once the run ahead ends", async () => {
      await using h = await harness(dialect);
      await h.save(gated("prio", "SERIAL_PRIORITY"));
      const first = await h.run("prio", { params: { dir: h.dataDir } });
      await workRunning(h, first);
      const today = (await h.latest(first, "work"))!.params["system.biz.curdate"]!;
      const id = await backfill(h, "prio");
      const waiting = await runOf(h, id, 0);
      expect((await h.store.instances.get(waiting))!.state).toBe("SERIAL_WAIT");
      const newer = await h.run("prio", { params: { dir: h.dataDir } });
      expect(await h.store.instances.get(waiting)).toMatchObject({ state: "STOP", message: `stop by serial_priority strategy: workflow instance ${newer} is newer in the queue` });
      release(h, today); // both manual runs pass
      expect(await backfillEnds(h, id)).toMatchObject({ state: "STOPPED", created: 1, failed: 0 });
      expect((await h.waitState(newer, ENDED)).state).toBe("SUCCESS");
    });

    test("SERIAL_WAIT workflow: stopping a backfill run while it waits moves the backfill on (STOPPED)", async () => {
      await using h = await harness(dialect);
      await h.save(gated("serial", "SERIAL_WAIT"));
      const manual = await h.run("serial", { params: { dir: h.dataDir } });
      await workRunning(h, manual);
      const today = (await h.latest(manual, "work"))!.params["system.biz.curdate"]!;
      const id = await backfill(h, "serial");
      const first = await runOf(h, id, 0);
      expect((await h.store.instances.get(first))!.state).toBe("SERIAL_WAIT");
      await h.engine.client.control(first, "stop", h.actor);
      expect((await h.waitState(first, ["STOP"])).startTime).toBeNull();
      expect(await backfillEnds(h, id)).toMatchObject({ state: "STOPPED", created: 1 });
      release(h, today);
      expect((await h.waitState(manual, ENDED)).state).toBe("SUCCESS");
    });
  });
}
