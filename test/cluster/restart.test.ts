// kill -9 of the real `porpoise all` process while shell tasks run, then start it again: the
// workflow resumes, completed tasks are not rerun, and each interrupted attempt gets what its
// process says (docs/architecture.md §3.10, src/worker/adoption.ts):
//   - still running: adopted, followed to its end, reported — attempt 1, no second copy;
//   - ended while porpoise was down: reported from its exit status — attempt 1;
//   - gone without an exit status (killed with porpoise): NEED_FAULT_TOLERANCE, attempt 2.

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store, TaskInstance } from "../../src/store/store.ts";
import { readExitStatus, readSupervisor, attemptFiles } from "../../src/worker/attempt-files.ts";
import { attemptWorkDir } from "../../src/core/attempt-paths.ts";
import { dialects } from "../helpers/stores.ts";
import { porpoiseAll, seedProject, waitFor } from "./porpoise-process.ts";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const dialect of dialects) {
  describe(`restart safety (${dialect})`, () => {
    test("kill -9 while shell tasks run: running ones are adopted, ended ones reported, vanished ones rerun", async () => {
      await using env = await porpoiseAll(dialect, { prefix: "porpoise-restart-", extraArgs: ["--worker-slots", "4"] });
      const tmp = env.tmp;
      const gate = (name: string) => `while [ ! -f '${join(tmp, name)}' ]; do sleep 0.05; done`;
      // Tasks run as nobody (porpoise is root here): the file they append to must be theirs to write.
      writeFileSync(join(tmp, "vanishes-runs"), "", { mode: 0o666 });
      chmodSync(join(tmp, "vanishes-runs"), 0o666);
      let store: Store | null = null;
      try {
        store = await openStore({ url: env.url });
        const { actor, project } = await seedProject(store);
        const definition = parseWorkflowDefinition({
          name: "long",
          tasks: [
            { name: "first", type: "shell", script: "echo first" },
            { name: "long", type: "shell", script: `echo before; ${gate("release")}; echo '\${setValue(x=41)}'; echo after`, deps: ["first"] },
            { name: "ends", type: "shell", script: `${gate("release-ends")}; echo ended-while-down`, deps: ["first"] },
            { name: "vanishes", type: "shell", script: `echo run >> '${join(tmp, "vanishes-runs")}'; ${gate("release")}`, deps: ["first"] },
            { name: "last", type: "shell", script: "echo x=${x}", deps: ["long", "ends", "vanishes"] },
          ],
        });
        const { workflow } = await store.workflows.create(project.id, definition, actor);
        // Submitted as the engine client does; the process picks it up when it starts.
        const instance = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
        const attempts = async (): Promise<TaskInstance[]> => store!.taskInstances.listForInstance(instance.id);
        const s = store;
        const row = async (name: string) => (await attempts()).find((t) => t.taskName === name && t.attempt === 1)!;
        const dirOf = async (name: string) => attemptWorkDir(join(tmp, "data"), await row(name), join(tmp, "data-work"));

        {
          await using p = await env.start();
          await waitFor("three tasks running", async () => (await attempts()).filter((t) => t.state === "RUNNING_EXECUTION").length === 3);
          const longLog = (await row("long")).logPath!;
          await waitFor("long's first line", async () => existsSync(longLog) && readFileSync(longLog, "utf8").includes("[out] before"));
          p.signal("SIGKILL");
          await p.exit();
        }
        expect((await s.instances.get(instance.id))!.state).toBe("RUNNING_EXECUTION");
        // While porpoise is down: "ends" ends, the process of "vanishes" is killed with its supervisor.
        writeFileSync(join(tmp, "release-ends"), "");
        const endsFiles = attemptFiles(await dirOf("ends"));
        await waitFor("ends' exit status", async () => readExitStatus(endsFiles.exit) === 0);
        const vanishing = readSupervisor(attemptFiles(await dirOf("vanishes")).pid)!;
        process.kill(-vanishing.pid, "SIGKILL");
        await waitFor("vanishes' group gone", async () => !processAlive(vanishing.pid));
        const longSupervisor = readSupervisor(attemptFiles(await dirOf("long")).pid)!;
        expect(processAlive(longSupervisor.pid)).toBe(true);

        await using again = await env.start();
        await waitFor("attempt 2 of vanishes", async () => (await attempts()).some((t) => t.taskName === "vanishes" && t.attempt === 2 && t.state === "RUNNING_EXECUTION"));
        await waitFor("ends reported from its exit status", async () => (await row("ends")).state === "SUCCESS");
        expect((await row("long")).state).toBe("RUNNING_EXECUTION");
        writeFileSync(join(tmp, "release"), "");
        const end = await waitFor("the instance to end", async () => {
          const i = await s.instances.get(instance.id);
          return i && ["SUCCESS", "FAILURE", "STOP"].includes(i.state) ? i : null;
        });
        expect(end.state).toBe("SUCCESS");
        const rows = (await attempts()).map((t) => [t.taskName, t.attempt, t.state]);
        expect(rows).toEqual([
          ["ends", 1, "SUCCESS"],
          ["first", 1, "SUCCESS"],
          ["last", 1, "SUCCESS"],
          ["long", 1, "SUCCESS"],
          ["vanishes", 1, "NEED_FAULT_TOLERANCE"],
          ["vanishes", 2, "SUCCESS"],
        ]);
        expect(readFileSync(join(tmp, "vanishes-runs"), "utf8")).toBe("run\nrun\n");
        // The adopted attempt's log: every line once, the OUT param passed on.
        const longLog = readFileSync((await row("long")).logPath!, "utf8");
        expect(longLog.match(/\[out\] (before|after)$/gm)).toEqual(["[out] before", "[out] after"]);
        expect(longLog).toContain("porpoise restarted: following the attempt's process group");
        expect((await row("long")).output).toEqual({ x: "41" });
        expect(readFileSync((await row("ends")).logPath!, "utf8")).toContain("[out] ended-while-down");
        expect(readFileSync((await row("last")).logPath!, "utf8")).toContain("[out] x=41");
        again.signal("SIGTERM");
        expect(await again.exit()).toBe(0);
      } finally {
        writeFileSync(join(tmp, "release"), ""); // ends what a failed run left waiting
        await store?.close();
      }
    }, 60_000);
  });
}
