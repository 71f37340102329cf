// SIGTERM of the real `porpoise all` while shell tasks run: the worker drains. A task that
// ends within the shutdown deadline ends SUCCESS in the Store; one still running at the
// deadline is killed, and after a restart it runs again as a new attempt (the interrupted
// one NEED_FAULT_TOLERANCE) — not KILL, which would fail its workflow. The process exits 0.
// One of the tasks is in worker group "gpu", which the process serves through --worker-groups.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store, TaskInstance } from "../../src/store/store.ts";
import { dialects } from "../helpers/stores.ts";
import { porpoiseAll, seedProject, waitFor } from "./porpoise-process.ts";

for (const dialect of dialects) {
  describe(`shutdown drain (${dialect})`, () => {
    test("SIGTERM: a task ending within the deadline ends SUCCESS; one past it runs again after the restart", async () => {
      await using env = await porpoiseAll(dialect, { prefix: "porpoise-drain-", extraArgs: ["--worker-groups", "default,gpu"] });
      const tmp = env.tmp;
      const release = (name: string) => writeFileSync(join(tmp, name), "");
      let store: Store | null = null;
      try {
        store = await openStore({ url: env.url });
        const s = store;
        const { actor, project } = await seedProject(s);
        const wait = (name: string) => `while [ ! -f '${join(tmp, name)}' ]; do sleep 0.05; done; echo ${name}`;
        const create = async (name: string, script: string, workerGroup: string) => {
          const { workflow } = await s.workflows.create(project.id, parseWorkflowDefinition({ name, tasks: [{ name: "t", type: "shell", script, workerGroup }] }), actor);
          // Submitted as the engine client does; the process picks it up when it starts.
          return s.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
        };
        const short = await create("short", wait("short-go"), "gpu"); // served only through --worker-groups
        const long = await create("long", wait("long-go"), "default");
        const rows = async (id: number): Promise<(string | number)[][]> => (await s.taskInstances.listForInstance(id)).map((t: TaskInstance) => [t.taskName, t.attempt, t.state]);

        {
          await using p = await env.start();
          await waitFor("both tasks running", async () => (await rows(short.id)).concat(await rows(long.id)).filter((r) => r[2] === "RUNNING_EXECUTION").length === 2);
          p.signal("SIGTERM");
          await p.waitFor(/SIGTERM received/);
          release("short-go");
          expect(await p.exit()).toBe(0);
        }
        expect((await s.instances.get(short.id))!.state).toBe("SUCCESS");
        expect(await rows(short.id)).toEqual([["t", 1, "SUCCESS"]]);
        // Killed by the shutdown, not by anyone's decision: still active, for recovery to take.
        expect((await s.instances.get(long.id))!.state).toBe("RUNNING_EXECUTION");
        expect(await rows(long.id)).toEqual([["t", 1, "RUNNING_EXECUTION"]]);

        await using again = await env.start();
        await waitFor("attempt 2 running", async () => (await rows(long.id)).some((r) => r[1] === 2 && r[2] === "RUNNING_EXECUTION"));
        release("long-go");
        const end = await waitFor("the long instance to end", async () => {
          const i = await s.instances.get(long.id);
          return i && ["SUCCESS", "FAILURE", "STOP"].includes(i.state) ? i : null;
        });
        expect(end.state).toBe("SUCCESS");
        expect(await rows(long.id)).toEqual([["t", 1, "NEED_FAULT_TOLERANCE"], ["t", 2, "SUCCESS"]]);
        expect(await rows(short.id)).toEqual([["t", 1, "SUCCESS"]]);
        again.signal("SIGTERM");
        expect(await again.exit()).toBe(0);
      } finally {
        release("short-go");
        release("long-go");
        await store?.close();
      }
    }, 60_000);
  });
}
