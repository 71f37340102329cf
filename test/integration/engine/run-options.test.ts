// Run options and scheduling through the real engine: dry run, start tasks with each depend
// type, delay before start, task and run priority with the worker's slot limit, worker groups.
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PRIORITY, type ReadyTask } from "../../../src/bus/bus.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import { Batch } from "../../../src/master/batch.ts";
import { type DriverHost, InstanceDriver } from "../../../src/master/instance-driver.ts";
import type { TaskInstance } from "../../../src/store/store.ts";
import { Worker } from "../../../src/worker/worker.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const waitFile = (name: string) => `while [ ! -f '\${dir}/${name}' ]; do sleep 0.02; done`;
const byStart = (rows: TaskInstance[]) => [...rows].sort((a, b) => a.startTime!.getTime() - b.startTime!.getTime()).map((r) => r.taskName);

for (const dialect of dialects) {
  describe(`engine run options (${dialect})`, () => {
    test("dryRun: every task ends SUCCESS without running, and so does the instance", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "dry",
        tasks: [
          { name: "make", type: "shell", script: "touch '${dir}/made'" },
          { name: "then", type: "shell", script: "touch '${dir}/then'", deps: ["make"] },
        ],
      });
      const id = await h.run("dry", { dryRun: true, params: { dir: h.dataDir } });
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const rows = await h.tasks(id);
      expect(rows.map((r) => [r.taskName, r.attempt, r.state, r.logPath])).toEqual([["make", 1, "SUCCESS", null], ["then", 1, "SUCCESS", null]]);
      expect(existsSync(join(h.dataDir, "made"))).toBe(false);
      expect(existsSync(join(h.dataDir, "then"))).toBe(false);
      // The same workflow without dryRun does create the file: the check above can see it.
      const real = await h.run("dry", { params: { dir: h.dataDir } });
      expect((await h.waitState(real, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect(existsSync(join(h.dataDir, "made"))).toBe(true);
    });

    test("startTasks with TASK_ONLY, TASK_PRE and TASK_POST create exactly the expected task rows", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "scope",
        tasks: [
          { name: "a", type: "noop" },
          { name: "b", type: "noop", deps: ["a"] },
          { name: "c", type: "noop", deps: ["b"] },
          { name: "x", type: "noop" },
        ],
      });
      const expected = { TASK_ONLY: ["b"], TASK_PRE: ["a", "b"], TASK_POST: ["b", "c"] } as const;
      for (const [dependType, names] of Object.entries(expected)) {
        const id = await h.run("scope", { startTasks: ["b"], dependType: dependType as keyof typeof expected });
        expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
        const rows = await h.tasks(id);
        expect({ dependType, rows: rows.map((r) => [r.taskName, r.state]).sort() }).toEqual({ dependType, rows: names.map((n) => [n, "SUCCESS"]) });
        expect((await h.store.instances.get(id))!.dependType).toBe(dependType);
      }
    });

    test("delay: the task waits in DELAY_EXECUTION until its not-before time, then runs", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "later", tasks: [{ name: "t", type: "shell", delay: 1, script: "echo late" }] });
      const id = await h.run("later");
      const delayed = await h.waitFor("t delayed", async () => {
        const t = await h.latest(id, "t");
        return t?.state === "DELAY_EXECUTION" ? t : null;
      });
      expect(delayed.notBefore!.getTime()).toBeGreaterThanOrEqual(delayed.submitTime!.getTime() + 1000);
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const ran = (await h.tasks(id)).map((r) => [r.taskName, r.attempt, r.state]);
      expect(ran).toEqual([["t", 1, "SUCCESS"]]);
      const t = (await h.latest(id, "t"))!;
      expect(t.startTime!.getTime()).toBeGreaterThanOrEqual(delayed.notBefore!.getTime());
    });

    test("priority: with one worker slot, waiting tasks start HIGHEST first, whatever their enqueue order", async () => {
      await using h = await harness(dialect, { workerSlots: 1 });
      await h.save({ name: "gate", tasks: [{ name: "gate", type: "shell", script: waitFile("open") }] });
      await h.save({
        name: "mixed",
        tasks: [
          { name: "lowest", type: "shell", priority: "LOWEST", script: "true" },
          { name: "medium", type: "shell", priority: "MEDIUM", script: "true" },
          { name: "low", type: "shell", priority: "LOW", script: "true" },
        ],
      });
      await h.save({ name: "top", tasks: [{ name: "highest", type: "shell", priority: "HIGHEST", script: "true" }, { name: "high", type: "shell", priority: "HIGH", script: "true" }] });
      const gate = await h.run("gate", { params: { dir: h.dataDir } });
      await h.waitFor("gate running", async () => (await h.latest(gate, "gate"))?.state === "RUNNING_EXECUTION");
      // Enqueued while the only slot is busy, lowest priorities first.
      const mixed = await h.run("mixed");
      await h.waitFor("mixed queued", async () => (await h.tasks(mixed)).filter((t) => t.state === "DISPATCH").length === 3);
      const top = await h.run("top");
      await h.waitFor("top queued", async () => (await h.tasks(top)).filter((t) => t.state === "DISPATCH").length === 2);
      writeFileSync(join(h.dataDir, "open"), "");
      for (const id of [gate, mixed, top]) expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const rows = [...(await h.tasks(gate)), ...(await h.tasks(mixed)), ...(await h.tasks(top))];
      expect(byStart(rows)).toEqual(["gate", "highest", "high", "medium", "low", "lowest"]);
    });

    test("run priority: with one worker slot, tasks of a HIGHEST run start before those of a LOW run submitted earlier, whatever the task priorities", async () => {
      await using h = await harness(dialect, { workerSlots: 1 });
      await h.save({ name: "gate", tasks: [{ name: "gate", type: "shell", script: waitFile("open") }] });
      await h.save({
        name: "pair",
        tasks: [
          { name: "top", type: "shell", priority: "HIGHEST", script: "true" },
          { name: "bottom", type: "shell", priority: "LOWEST", script: "true" },
        ],
      });
      const gate = await h.run("gate", { params: { dir: h.dataDir } });
      await h.waitFor("gate running", async () => (await h.latest(gate, "gate"))?.state === "RUNNING_EXECUTION");
      // The LOW run is queued first, so FIFO or task priority alone would start its tasks first.
      const low = await h.run("pair", { priority: "LOW" });
      await h.waitFor("LOW run queued", async () => (await h.bus.depth("default")) === 2);
      const highest = await h.run("pair", { priority: "HIGHEST" });
      await h.waitFor("HIGHEST run queued", async () => (await h.bus.depth("default")) === 4);
      expect([(await h.store.instances.get(low))!.priority, (await h.store.instances.get(highest))!.priority]).toEqual(["LOW", "HIGHEST"]);
      writeFileSync(join(h.dataDir, "open"), "");
      for (const id of [gate, low, highest]) expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const label = new Map([[gate, "gate"], [low, "LOW"], [highest, "HIGHEST"]]);
      const rows = [...(await h.tasks(gate)), ...(await h.tasks(low)), ...(await h.tasks(highest))];
      const started = [...rows].sort((a, b) => a.startTime!.getTime() - b.startTime!.getTime()).map((r) => `${label.get(r.workflowInstanceId)}:${r.taskName}`);
      expect(started).toEqual(["gate:gate", "HIGHEST:top", "HIGHEST:bottom", "LOW:top", "LOW:bottom"]);
    });

    test("run priority reaches every enqueue: first dispatch, retry after its interval, a new attempt after a restart, an adopted DISPATCH row", async () => {
      await using h = await harness(dialect, { workerGroups: ["default"] });
      // Queued on a group no worker serves, so the test pulls each ReadyTask itself and reports as a worker would.
      const definition = { name: "held", tasks: [{ name: "t", type: "shell", workerGroup: "gpu", retries: 1, retryInterval: 1, script: "true" }] };
      await h.save(definition);
      const id = await h.run("held", { priority: "HIGH" });
      const pullOne = async (what: string) => {
        const got = await h.bus.claim(["gpu"], 10, AbortSignal.timeout(30_000));
        await h.bus.ack(got);
        expect({ what, count: got.length }).toEqual({ what, count: 1 });
        return got[0]!;
      };
      const report = (t: ReadyTask, state: "SUCCESS" | "FAILURE") =>
        h.bus.publishEvent(t.slot, { kind: "done", taskInstanceId: t.taskInstanceId, workflowInstanceId: t.workflowInstanceId, slot: t.slot, epoch: t.epoch, attempt: t.attempt, token: t.token, state, exitCode: state === "SUCCESS" ? 0 : 1, output: {}, message: null, endTime: new Date(), host: "test", logPath: null, startTime: new Date() });
      const rank = (t: ReadyTask) => ({ attempt: t.attempt, instancePriority: t.instancePriority, priority: t.priority });

      const first = await pullOne("first dispatch");
      expect(rank(first)).toEqual({ attempt: 1, instancePriority: PRIORITY.HIGH, priority: PRIORITY.MEDIUM });

      // A driver that adopts the instance (a reload) re-enqueues its DISPATCH row with the run's priority too.
      const adopted: Array<[number, number]> = [];
      const recorder: DriverHost = {
        log: silentLogger,
        host: "test",
        schedule: () => {},
        enqueue: (_rec, _task, _group, priority, instancePriority) => adopted.push([instancePriority, priority]),
        publishKill: () => {},
        startMasterTask: () => {},
        stopMasterTask: () => {},
        pauseMasterTask: () => {},
        finished: () => {},
      };
      const instance = (await h.store.instances.get(id))!;
      const driver = new InstanceDriver(recorder, instance, parseWorkflowDefinition(definition), {}, instance.epoch);
      const batch = new Batch();
      driver.start(batch, await h.tasks(id), "start");
      batch.runEffects((err) => {
        throw err;
      });
      driver.dispose();
      expect(adopted).toEqual([[PRIORITY.HIGH, PRIORITY.MEDIUM]]);

      report(first, "FAILURE");
      expect(rank(await pullOne("retry"))).toEqual({ attempt: 2, instancePriority: PRIORITY.HIGH, priority: PRIORITY.MEDIUM });
      await h.restart(0);
      const third = await pullOne("attempt after the restart");
      expect(rank(third)).toEqual({ attempt: 3, instancePriority: PRIORITY.HIGH, priority: PRIORITY.MEDIUM });
      report(third, "SUCCESS");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.tasks(id)).map((t) => [t.attempt, t.state])).toEqual([[1, "FAILURE"], [2, "NEED_FAULT_TOLERANCE"], [3, "SUCCESS"]]);
    });

    test("worker slots: with 2 slots, 6 parallel sleeping tasks never run more than 2 at once", async () => {
      await using h = await harness(dialect, { workerSlots: 2 });
      await h.save({ name: "par", tasks: Array.from({ length: 6 }, (_, i) => ({ name: `s${i}`, type: "shell", script: "sleep 0.2" })) });
      const id = await h.run("par");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const rows = await h.tasks(id);
      expect(rows.length).toBe(6);
      // Largest number of [start, end) intervals that overlap, from the stored times.
      const edges = rows.flatMap((r) => [[r.startTime!.getTime(), 1], [r.endTime!.getTime(), -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let now = 0;
      let most = 0;
      for (const [, d] of edges) most = Math.max(most, (now += d));
      expect(most).toBe(2);
    });

    test("worker groups: a gpu task waits in DISPATCH while only default is served, and runs on a gpu worker", async () => {
      await using h = await harness(dialect, { workerGroups: ["default"] });
      await h.save({
        name: "groups",
        tasks: [
          { name: "cpu", type: "shell", script: "echo cpu" },
          { name: "gpu", type: "shell", workerGroup: "gpu", script: "echo gpu" },
        ],
      });
      await h.save({ name: "plain", tasks: [{ name: "p", type: "shell", script: "echo plain" }] });
      const id = await h.run("groups");
      await h.waitFor("cpu done", async () => (await h.latest(id, "cpu"))?.state === "SUCCESS");
      const waiting = (await h.latest(id, "gpu"))!;
      expect([waiting.state, waiting.workerGroup, await h.bus.depth("gpu")]).toEqual(["DISPATCH", "gpu", 1]);
      // The run's workerGroup applies to tasks left on "default": that one waits for a gpu worker too.
      const overridden = await h.run("plain", { workerGroup: "gpu" });
      await h.waitFor("p queued on gpu", async () => (await h.bus.depth("gpu")) === 2);
      expect((await h.latest(overridden, "p"))!.workerGroup).toBe("gpu");
      expect((await h.store.instances.get(id))!.state).toBe("RUNNING_EXECUTION");
      // Said, not silent (issue 9 item 15; seen failing before: no message, no count): on the
      // attempt, on the instance, and as a count per group the engine keeps for metrics.
      const note = 'waiting: no worker serves worker group "gpu" (served: "default"); it runs once a worker of that group is up';
      await h.waitFor("the wait noted", async () => (await h.latest(id, "gpu"))?.message === note && (await h.latest(overridden, "p"))?.message === note);
      expect((await h.store.instances.get(id))!.message).toBe(`task "gpu" (task instance ${waiting.id}) is ${note}`);
      expect(h.engine.master.waitingForUnservedGroups()).toEqual({ gpu: 2 });

      const gpuWorker = new Worker({ store: h.store, bus: h.bus, log: silentLogger, dataDir: h.dataDir, slots: 2, groups: ["gpu"], host: "gpu-box" });
      await gpuWorker.start();
      try {
        expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
        expect((await h.waitState(overridden, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
        expect((await h.latest(id, "gpu"))!.host).toBe("gpu-box");
        expect((await h.latest(overridden, "p"))!.host).toBe("gpu-box");
        expect((await h.latest(id, "cpu"))!.host).not.toBe("gpu-box");
        // It still ran once a gpu worker came; the attempt's note is gone with the wait.
        expect((await h.latest(id, "gpu"))!.message).toBeNull();
        expect(h.engine.master.waitingForUnservedGroups()).toEqual({});
      } finally {
        await gpuWorker.stop(1000);
      }
    });
  });
}
