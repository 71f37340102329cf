// kill -9 of the real `porpoise all` process while a shell task runs, then start it again:
// the workflow resumes, completed tasks are not rerun, the interrupted attempt is
// NEED_FAULT_TOLERANCE, a new attempt runs and the instance ends SUCCESS.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store, TaskInstance } from "../../src/store/store.ts";
import { dialects, freshDatabaseUrl } from "../helpers/stores.ts";
import { cleanEnv, fromSource, spawn } from "../integration/cli-process.ts";

const READY = /porpoise all ready on/;

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

for (const dialect of dialects) {
  describe(`restart safety (${dialect})`, () => {
    test("kill -9 while a shell task runs; the restarted process finishes the workflow", async () => {
      const tmp = mkdtempSync(join(tmpdir(), "porpoise-restart-"));
      const dataDir = join(tmp, "data");
      await using db = dialect === "postgres" ? await freshDatabaseUrl("postgres") : null;
      const url = db ? db.url : `sqlite:${join(tmp, "porpoise.db")}`;
      const args = ["all", "--port", "0", "--data-dir", dataDir, "--db", db ? db.url : join(tmp, "porpoise.db"), "--shutdown-timeout", "2"];
      let store: Store | null = null;
      try {
        store = await openStore({ url });
        const user = await store.users.create({ name: "alice", passwordHash: null, isAdmin: true }, { userId: null, userName: "test" });
        const actor = { userId: user.id, userName: user.name };
        const project = await store.projects.create({ name: "etl", description: "", ownerId: user.id }, actor);
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
          await using p = spawn(fromSource(args), { cwd: tmp, env: cleanEnv() });
          await p.waitFor(READY);
          await waitFor("long running", async () => (await attempts()).some((t) => t.taskName === "long" && t.state === "RUNNING_EXECUTION"));
          p.signal("SIGKILL");
          await p.exit();
        }
        expect((await s.instances.get(instance.id))!.state).toBe("RUNNING_EXECUTION");

        await using again = spawn(fromSource(args), { cwd: tmp, env: cleanEnv() });
        await again.waitFor(READY);
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
        rmSync(tmp, { recursive: true, force: true });
      }
    }, 60_000);
  });
}
