// resume / rerun / recover-failed of an instance of a serial workflow, on the real engine: the
// instance waits its turn instead of running beside another one, starts with the control's own
// start mode when let in (also when the engine restarted in between), SERIAL_DISCARD refuses the
// control with 409, and a control that submitted an instance not yet started when the master
// stopped is applied after the restart. Tasks block on files in the data dir.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConflictError } from "../../../src/core/errors.ts";
import { publishWake } from "../../../src/api/engine-client.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness, type Harness } from "./harness.ts";

const gate = (task: string) => `while [ ! -f '\${dir}/${task}-\${token}' ]; do sleep 0.02; done; exit $(cat '\${dir}/${task}-\${token}')`;
const twoSteps = (name: string, executionType: string) => ({
  name,
  executionType,
  tasks: [
    { name: "work", type: "shell", script: gate("work") },
    { name: "after", type: "shell", script: gate("after"), deps: ["work"] },
  ],
});
const open = (h: Harness, task: string, token: string, code = 0) => writeFileSync(join(h.dataDir, `${task}-${token}`), String(code));
const submit = (h: Harness, name: string, token: string) => h.run(name, { params: { dir: h.dataDir, token } });
const ENDED = ["SUCCESS", "FAILURE", "STOP", "PAUSE"];
const taskRunning = (h: Harness, id: number, task: string, attempt = 1) =>
  h.waitFor(`instance ${id} task ${task} attempt ${attempt} running`, async () => {
    const t = await h.latest(id, task);
    return t?.attempt === attempt && t.state === "RUNNING_EXECUTION" ? t : null;
  });
const attempts = async (h: Harness, id: number, task: string) => (await h.tasks(id)).filter((t) => t.taskName === task).map((t) => `${t.attempt}:${t.state}`);

for (const dialect of dialects) {
  describe(`controls of serial workflows (${dialect})`, () => {
    test("SERIAL_WAIT: resume of a paused instance waits while another runs, then resumes where it paused", async () => {
      await using h = await harness(dialect);
      await h.save(twoSteps("sw", "SERIAL_WAIT"));
      const a = await submit(h, "sw", "a");
      await taskRunning(h, a, "work");
      await h.engine.client.control(a, "pause", h.actor);
      await h.waitState(a, ["READY_PAUSE"]);
      open(h, "work", "a");
      expect((await h.waitState(a, ENDED)).state).toBe("PAUSE");
      const b = await submit(h, "sw", "b"); // a is paused: b runs
      await taskRunning(h, b, "work");

      expect(await h.engine.client.control(a, "resume", h.actor)).toEqual({ id: a, state: "SERIAL_WAIT" });
      const waiting = await h.waitFor("a queued", async () => {
        const i = await h.store.instances.get(a);
        return i?.state === "SERIAL_WAIT" ? i : null;
      });
      expect(waiting).toMatchObject({ pendingControl: "resume", runTimes: 2 });
      expect(await attempts(h, a, "after")).toEqual([]);

      open(h, "work", "b");
      open(h, "after", "b");
      const bEnded = await h.waitState(b, ENDED);
      expect(bEnded.state).toBe("SUCCESS");
      open(h, "after", "a");
      expect((await h.waitState(a, ENDED)).state).toBe("SUCCESS");
      // Resumed, not restarted: "work" kept its one successful attempt; "after" ran only after b ended.
      expect(await attempts(h, a, "work")).toEqual(["1:SUCCESS"]);
      const after = (await h.latest(a, "after"))!;
      expect(after.startTime!.getTime()).toBeGreaterThanOrEqual(bEnded.endTime!.getTime());
    });

    test("SERIAL_WAIT: a queued rerun survives an engine restart and reruns every task once let in", async () => {
      await using h = await harness(dialect);
      await h.save(twoSteps("rr", "SERIAL_WAIT"));
      const a = await submit(h, "rr", "a");
      open(h, "work", "a");
      open(h, "after", "a");
      expect((await h.waitState(a, ENDED)).state).toBe("SUCCESS");
      const b = await submit(h, "rr", "b");
      await taskRunning(h, b, "work");
      expect((await h.engine.client.control(a, "rerun", h.actor)).state).toBe("SERIAL_WAIT");
      await h.waitState(a, ["SERIAL_WAIT"]);

      await h.restart(0);
      await taskRunning(h, b, "work", 2); // b's interrupted task runs again; a still waits
      expect((await h.store.instances.get(a))!.state).toBe("SERIAL_WAIT");
      open(h, "work", "b");
      open(h, "after", "b");
      expect((await h.waitState(b, ENDED)).state).toBe("SUCCESS");
      const rerun = await h.waitState(a, ENDED);
      expect(rerun.state).toBe("SUCCESS");
      expect(rerun.runTimes).toBe(2);
      // A rerun, not a restart (which would keep both successes and run nothing).
      expect(await attempts(h, a, "work")).toEqual(["1:SUCCESS", "2:SUCCESS"]);
      expect(await attempts(h, a, "after")).toEqual(["1:SUCCESS", "2:SUCCESS"]);
    });

    test("SERIAL_PRIORITY: recover-failed queues as the newest request and stops the run waiting before it", async () => {
      await using h = await harness(dialect);
      await h.save(twoSteps("pr", "SERIAL_PRIORITY"));
      const a = await submit(h, "pr", "a");
      open(h, "work", "a");
      open(h, "after", "a", 1);
      expect((await h.waitState(a, ENDED)).state).toBe("FAILURE");
      const b = await submit(h, "pr", "b");
      await taskRunning(h, b, "work");
      const c = await submit(h, "pr", "c");
      expect((await h.store.instances.get(c))!.state).toBe("SERIAL_WAIT");
      expect((await h.engine.client.control(a, "recover-failed", h.actor)).state).toBe("SERIAL_WAIT");
      expect(await h.waitState(c, ["STOP"])).toMatchObject({ message: `stop by serial_priority strategy: workflow instance ${a} is newer in the queue` });
      open(h, "after", "a"); // the failed task succeeds on its rerun
      open(h, "work", "b");
      open(h, "after", "b");
      expect((await h.waitState(b, ENDED)).state).toBe("SUCCESS");
      expect((await h.waitState(a, ENDED)).state).toBe("SUCCESS");
      expect(await attempts(h, a, "work")).toEqual(["1:SUCCESS"]);
      expect(await attempts(h, a, "after")).toEqual(["1:FAILURE", "2:SUCCESS"]);
      expect(await h.tasks(c)).toEqual([]);
    });

    test("SERIAL_DISCARD: resume while another runs is refused with 409 (API) or a message (master), the instance stays PAUSE", async () => {
      await using h = await harness(dialect);
      await h.save(twoSteps("dc", "SERIAL_DISCARD"));
      const a = await submit(h, "dc", "a");
      await taskRunning(h, a, "work");
      await h.engine.client.control(a, "pause", h.actor);
      await h.waitState(a, ["READY_PAUSE"]);
      open(h, "work", "a");
      expect((await h.waitState(a, ENDED)).state).toBe("PAUSE");
      const b = await submit(h, "dc", "b");
      await taskRunning(h, b, "work");

      const refused = h.engine.client.control(a, "resume", h.actor);
      await expect(refused).rejects.toThrow(ConflictError);
      await expect(refused).rejects.toThrow(`workflow "dc" is SERIAL_DISCARD and workflow instance ${b} is active`);
      // A command that got past the API's look (a race) is refused by the master, atomically.
      const row = (await h.store.instances.get(a))!;
      await h.store.commands.enqueue({ type: "RESUME", projectId: row.projectId, workflowId: row.workflowId, workflowInstanceId: a }, h.actor);
      publishWake(h.bus, { commands: true }, silentLogger);
      const noted = await h.waitFor("refusal message", async () => {
        const i = await h.store.instances.get(a);
        return i?.message ? i : null;
      });
      expect(noted).toMatchObject({ state: "PAUSE", runTimes: 1, message: `resume refused by serial_discard strategy: workflow instance ${b} is active; resume again once it has ended` });

      open(h, "work", "b");
      open(h, "after", "b");
      expect((await h.waitState(b, ENDED)).state).toBe("SUCCESS");
      expect((await h.engine.client.control(a, "resume", h.actor)).state).toBe("SUBMITTED_SUCCESS");
      open(h, "after", "a");
      expect(await h.waitState(a, ["SUCCESS"])).toMatchObject({ message: null });
    });

    test("a control that submitted an instance the master had not started yet is applied after a restart", async () => {
      await using h = await harness(dialect);
      await h.save(twoSteps("gap", "PARALLEL"));
      const a = await submit(h, "gap", "a");
      open(h, "work", "a");
      open(h, "after", "a");
      expect((await h.waitState(a, ENDED)).state).toBe("SUCCESS");
      await h.engine.stop(0);
      // The rerun committed (as the master writes it) but no master started the instance: a crash in between.
      const row = (await h.store.instances.get(a))!;
      expect(await h.store.instances.restart(a, { control: "rerun", from: ["SUCCESS"], epoch: row.epoch, set: { runTimes: 2, endTime: null } })).toMatchObject({ outcome: "submitted" });
      await h.restart(0);
      await h.waitFor("the rerun's second attempts", async () => (await attempts(h, a, "after")).length === 2);
      expect(await h.waitState(a, ENDED)).toMatchObject({ state: "SUCCESS", runTimes: 2 });
      expect(await attempts(h, a, "work")).toEqual(["1:SUCCESS", "2:SUCCESS"]);
    });
  });
}
