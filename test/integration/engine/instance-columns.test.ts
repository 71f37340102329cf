// The instance's own timezone and message, on the real engine, both dialects: a run's zone is
// fixed when it is created (a later edit of its schedule does not move its dates), a manual run
// can name one, a backfill run takes its schedule's; message says why a run ended as it did when
// its state does not (workflow timeout, serial discard).
import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const hourIn = (zone: string, d: Date) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" })
    .format(d)
    .replace(/\D/g, "");
const dateTask = { name: "t", type: "shell", script: "echo '#{setValue(b=${system.biz.date})} #{setValue(h=$[yyyyMMddHH])}'" };

for (const dialect of dialects) {
  describe(`instance timezone and message (${dialect})`, () => {
    test("a scheduled run keeps the zone it was created with when its schedule's zone is edited later", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "tokyo", tasks: [dateTask] });
      const workflow = (await h.store.workflows.get(h.projectId, "tokyo"))!;
      // ONLINE (an OFFLINE schedule does not fire), with a year that keeps the engine's scheduler quiet.
      const schedule = await h.store.schedules.create(h.projectId, workflow.id, { cron: "0 30 1 * * ? 2099", timezone: "Asia/Tokyo", releaseState: "ONLINE" }, h.actor);
      // 2024-03-31 16:30 UTC is 2024-04-01 01:30 in Tokyo.
      const fired = await h.store.schedules.fire({ scheduleId: schedule.id, fireTime: new Date("2024-03-31T16:30:00Z"), slot: () => 0 });
      if (fired.outcome !== "created") throw new Error(`no instance: ${fired.outcome}`);
      expect(fired.instance.timezone).toBe("Asia/Tokyo");
      await h.store.schedules.update(schedule.id, { timezone: "UTC" }, h.actor);
      await h.engine.master.load(fired.instance.id, "start");
      expect((await h.waitState(fired.instance.id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.latest(fired.instance.id, "t"))!.output).toEqual({ b: "20240331", h: "2024040101" });
    });

    test("a sub_workflow child computes its dates in its parent's zone", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "child", tasks: [dateTask] });
      await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child" }] });
      const parent = (await h.store.workflows.get(h.projectId, "parent"))!;
      // 2024-03-31 16:30 UTC is 2024-04-01 01:30 in Tokyo.
      const run = await h.store.instances.create({ workflowId: parent.id, slot: () => 0, runType: "SCHEDULER", timezone: "Asia/Tokyo", scheduleTime: new Date("2024-03-31T16:30:00Z") });
      await h.engine.master.load(run.id, "start");
      expect((await h.waitState(run.id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const sub = (await h.latest(run.id, "sub"))!;
      const child = (await h.store.instances.list({ projectId: h.projectId, limit: 50, offset: 0 })).items.find((i) => i.parentTaskInstanceId === sub.id)!;
      expect(child.timezone).toBe("Asia/Tokyo");
      // $[...] in the child is on the parent's base time (its system.datetime, a Tokyo wall time), read in Tokyo.
      expect((await h.latest(child.id, "t"))!.output!.h).toBe("2024040101");
    });

    test("a manual run computes its dates in the zone it names (UTC by default)", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "manual", tasks: [dateTask] });
      for (const zone of ["Pacific/Kiritimati", undefined]) {
        const id = await h.run("manual", zone ? { timezone: zone } : {});
        const ended = await h.waitState(id, ["SUCCESS", "FAILURE"]);
        expect(ended.timezone).toBe(zone ?? "UTC");
        expect((await h.latest(id, "t"))!.output!.h).toBe(hourIn(zone ?? "UTC", ended.startTime!));
      }
      await expect(h.run("manual", { timezone: "Mars/Olympus" })).rejects.toThrow('unknown time zone "Mars/Olympus"');
    });

    test("a backfill run takes its schedule's zone", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "bf", tasks: [dateTask] });
      const workflow = (await h.store.workflows.get(h.projectId, "bf"))!;
      const schedule = await h.store.schedules.create(h.projectId, workflow.id, { cron: "0 30 1 * * ?", timezone: "Asia/Tokyo", releaseState: "OFFLINE" }, h.actor);
      const b = await h.store.backfills.create(
        { projectId: h.projectId, workflowId: workflow.id, scheduleId: schedule.id, runMode: "serial", maxParallelism: 1, onFailure: "stop", failureStrategy: "END", priority: "MEDIUM", workerGroup: "default", params: {}, plan: [new Date("2024-03-31T16:30:00Z")] },
        h.actor,
      );
      await h.engine.client.advanceBackfill!(b.id);
      const [run] = await h.store.backfills.runs(b.id);
      const ended = await h.waitState(run!.instanceId!, ["SUCCESS", "FAILURE"]);
      expect(ended).toMatchObject({ state: "SUCCESS", timezone: "Asia/Tokyo" });
      expect((await h.latest(ended.id, "t"))!.output).toEqual({ b: "20240331", h: "2024040101" });
    });

    test("message: a workflow timeout and a serial discard say why; a plain success has none", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "late", timeout: 1, tasks: [{ name: "t", type: "shell", script: "sleep 30" }] });
      const late = await h.run("late");
      expect(await h.waitState(late, ["SUCCESS", "FAILURE", "STOP"])).toMatchObject({ state: "FAILURE", message: "the workflow timed out after 1s" });
      await h.save({ name: "one", executionType: "SERIAL_DISCARD", tasks: [{ name: "t", type: "shell", script: "sleep 0.3" }] });
      const a = await h.run("one");
      const b = await h.run("one");
      expect(await h.store.instances.get(b)).toMatchObject({ state: "STOP", message: `stop by serial_discard strategy: workflow instance ${a} is active` });
      expect(await h.waitState(a, ["SUCCESS", "FAILURE", "STOP"])).toMatchObject({ state: "SUCCESS", message: null });
    });
  });
}
