// Task types the master runs itself over time (sub_workflow, dependent) and the workflow timeout.
import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

for (const dialect of dialects) {
  describe(`engine master-side tasks (${dialect})`, () => {
    test("sub_workflow: the child runs with the task's params; its success and its failure end the task", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "child", tasks: [{ name: "c", type: "shell", script: 'test "$mode" = good' }] });
      await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child", params: { mode: "${how}" } }, { name: "after", type: "noop", deps: ["sub"] }] });
      await h.save({ name: "parent-good", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child", params: { mode: "good" } }, { name: "after", type: "noop", deps: ["sub"] }] });
      const good = await h.run("parent-good", { priority: "HIGH" });
      expect((await h.waitState(good, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const sub = (await h.latest(good, "sub"))!;
      expect(sub.state).toBe("SUCCESS");
      const children = (await h.store.instances.list({ projectId: h.projectId, limit: 50, offset: 0 })).items.filter((i) => i.parentTaskInstanceId === sub.id);
      expect(children.length).toBe(1);
      expect(children[0]!.state).toBe("SUCCESS");
      // The child is part of the parent's run: same run priority and worker group.
      expect(children[0]!.priority).toBe("HIGH");
      expect(children[0]!.workerGroup).toBe("default");

      const bad = await h.run("parent");
      expect((await h.waitState(bad, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      expect((await h.latest(bad, "sub"))!.state).toBe("FAILURE");
      expect(await h.latest(bad, "after")).toBeUndefined();
    });

    test("dependent: satisfied by today's success of another workflow; times out when it never ran", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "upstream", tasks: [{ name: "u", type: "noop" }] });
      await h.save({ name: "never", tasks: [{ name: "n", type: "noop" }] });
      await h.save({ name: "down", tasks: [{ name: "wait", type: "dependent", checkInterval: 1, dependOn: [{ workflow: "upstream", cycle: "day", dateValue: "today" }] }] });
      await h.save({ name: "stuck", tasks: [{ name: "wait", type: "dependent", checkInterval: 1, timeout: 1, dependOn: [{ workflow: "never", cycle: "day", dateValue: "today" }] }] });
      const stuck = await h.run("stuck");
      const up = await h.run("upstream");
      await h.waitState(up, ["SUCCESS"]);
      const down = await h.run("down");
      expect((await h.waitState(down, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.waitState(stuck, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      expect((await h.latest(stuck, "wait"))!.message).toContain("timed out");
    });

    test("workflow timeout: running tasks are killed and the instance ends FAILURE", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "late", timeout: 1, tasks: [{ name: "t", type: "shell", script: "sleep 60" }, { name: "u", type: "noop", deps: ["t"] }] });
      const id = await h.run("late");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("FAILURE");
      const t = (await h.latest(id, "t"))!;
      expect(t.state).toBe("KILL");
      expect(t.message).toContain("timed out");
      expect(await h.latest(id, "u")).toBeUndefined();
    });
  });
}
