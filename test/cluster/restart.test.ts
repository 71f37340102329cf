// kill -9 of the real `porpoise all` process while a shell task runs, then start it again:
// the workflow resumes, completed tasks are not rerun, the interrupted attempt is
// NEED_FAULT_TOLERANCE, a new attempt runs and the instance ends SUCCESS.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store, TaskInstance } from "../../src/store/store.ts";
import { dialects } from "../helpers/stores.ts";
import { porpoiseAll, seedProject, waitFor } from "./porpoise-process.ts";

for (const dialect of dialects) {
  describe(`restart safety (${dialect})`, () => {
    test("kill -9 while a shell task runs; the restarted process finishes the workflow", async () => {
      await using env = await porpoiseAll(dialect, { prefix: "porpoise-restart-" });
      const tmp = env.tmp;
      let store: Store | null = null;
      try {
        store = await openStore({ url: env.url });
        const { actor, project } = await seedProject(store);
        const definition = parseWorkflowDefinition({
          name: "long",
          tasks: [
            { name: "first", type: "shell", script: "echo first" },
            { name: "long", type: "shell", script: `while [ ! -f '${join(tmp, "release")}' ]; do sleep 0.05; done; echo released`, deps: ["first"] },
            { name: "last", type: "noop", deps: ["long"] },
          ],
        });
        const { workflow } = await store.workflows.create(project.id, definition, actor);
        // Submitted as the engine client does; the process picks it up when it starts.
        const instance = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
        const attempts = async (): Promise<TaskInstance[]> => store!.taskInstances.listForInstance(instance.id);
        const s = store;

        {
          await using p = await env.start();
          await waitFor("long running", async () => (await attempts()).some((t) => t.taskName === "long" && t.state === "RUNNING_EXECUTION"));
          p.signal("SIGKILL");
          await p.exit();
        }
        expect((await s.instances.get(instance.id))!.state).toBe("RUNNING_EXECUTION");

        await using again = await env.start();
        await waitFor("attempt 2 of long", async () => (await attempts()).some((t) => t.taskName === "long" && t.attempt === 2 && t.state === "RUNNING_EXECUTION"));
        writeFileSync(join(tmp, "release"), "");
        const end = await waitFor("the instance to end", async () => {
          const i = await s.instances.get(instance.id);
          return i && ["SUCCESS", "FAILURE", "STOP"].includes(i.state) ? i : null;
        });
        expect(end.state).toBe("SUCCESS");
        const rows = (await attempts()).map((t) => [t.taskName, t.attempt, t.state]);
        expect(rows).toEqual([
          ["first", 1, "SUCCESS"],
          ["last", 1, "SUCCESS"],
          ["long", 1, "NEED_FAULT_TOLERANCE"],
          ["long", 2, "SUCCESS"],
        ]);
        again.signal("SIGTERM");
        expect(await again.exit()).toBe(0);
      } finally {
        writeFileSync(join(tmp, "release"), ""); // ends the orphaned loop of attempt 1
        await store?.close();
      }
    }, 60_000);
  });
}
