// An engine stopped while attempts run (running attempts killed by the shutdown, unreported)
// and a new one started on the same store: interrupted attempts run again, and a
// sub_workflow task re-attaches to the child instance it had started instead of starting
// a second one.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const waitFile = (name: string) => `while [ ! -f '\${dir}/${name}' ]; do sleep 0.02; done`;

for (const dialect of dialects) {
  describe(`engine restart (${dialect})`, () => {
    test("sub_workflow across a restart: the new attempt waits for the same child; no second child, no orphan", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "child", tasks: [{ name: "work", type: "shell", script: waitFile("release") }] });
      await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child", params: { dir: "${dir}" } }, { name: "after", type: "noop", deps: ["sub"] }] });
      const childWorkflow = (await h.store.workflows.get(h.projectId, "child"))!;
      const children = async () => (await h.store.instances.list({ projectId: h.projectId, workflowId: childWorkflow.id, limit: 10, offset: 0 })).items;
      const id = await h.run("parent", { params: { dir: h.dataDir } });
      const child = await h.waitFor("the child's task running", async () => {
        const [c] = await children();
        return c && (await h.latest(c.id, "work"))?.state === "RUNNING_EXECUTION" ? c : null;
      });

      await h.restart(0);
      await h.waitFor("attempt 2 of the child's task", async () => (await h.latest(child.id, "work"))?.attempt === 2);
      await h.waitFor("attempt 2 of sub", async () => (await h.latest(id, "sub"))?.attempt === 2);
      writeFileSync(join(h.dataDir, "release"), "");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE", "STOP"])).state).toBe("SUCCESS");
      expect((await children()).map((c) => [c.id, c.state])).toEqual([[child.id, "SUCCESS"]]);
      expect((await h.tasks(id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([
        ["after", 1, "SUCCESS"],
        ["sub", 1, "NEED_FAULT_TOLERANCE"],
        ["sub", 2, "SUCCESS"],
      ]);
      expect((await h.latest(id, "sub"))!.message).toContain(`child workflow instance ${child.id} ended SUCCESS`);
      expect((await h.tasks(child.id)).map((t) => [t.taskName, t.attempt, t.state])).toEqual([
        ["work", 1, "NEED_FAULT_TOLERANCE"],
        ["work", 2, "SUCCESS"],
      ]);
    });
  });
}
