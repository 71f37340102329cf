// A cluster worker's task processes die with the worker (attempt-files.ts, the leashed
// supervisor): once the worker is gone a master reruns its attempts elsewhere, so a task left
// running here would be a second copy. `porpoise all` does not leash: it adopts what outlived it.
// A real process holds the leash here and is killed -9; the task's whole process group must go.

import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../helpers/wait.ts";

const SRC = join(import.meta.dir, "../../../src/worker");

function holder(dir: string, leash: boolean): string {
  const path = join(dir, "holder.ts");
  writeFileSync(
    path,
    `import { leashTasksToThisProcess, supervisedArgv, tasksLeashed } from ${JSON.stringify(join(SRC, "attempt-files.ts"))};
import { startProcess } from ${JSON.stringify(join(SRC, "process-threads.ts"))};
if (${leash}) leashTasksToThisProcess();
const dir = ${JSON.stringify(dir)};
// The task writes its pid, then (in the background, its own child) sleeps and writes a marker.
const p = await startProcess({ argv: supervisedArgv(["sh", "-c", "echo $$ > task.pid; (sleep 4; echo late > marker) & wait"]), cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, output: { out: dir + "/out", err: dir + "/err" }, ...(tasksLeashed() ? { leash: true } : {}) }, () => {});
console.log("started " + p.pid);
await new Promise(() => {});
`,
  );
  return path;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const leash of [true, false]) {
  test(leash ? "leashed: kill -9 of the holder kills the task's process group at once" : "unleashed (porpoise all): the task outlives the holder, to be adopted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "porpoise-leash-"));
    try {
      const proc = Bun.spawn([process.execPath, holder(dir, leash)], { cwd: dir, stdout: "pipe", stderr: "inherit" });
      const reader = proc.stdout.getReader();
      let out = "";
      while (!/started \d+/.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`holder exited: ${out}`);
        out += new TextDecoder().decode(value);
      }
      const supervisor = Number(/started (\d+)/.exec(out)![1]);
      await waitFor("the task wrote its pid", async () => existsSync(join(dir, "task.pid")));
      proc.kill("SIGKILL");
      await proc.exited;
      if (leash) {
        await waitFor("the supervisor's group is gone", async () => !alive(supervisor), 5_000);
        await Bun.sleep(4_500);
        expect(existsSync(join(dir, "marker"))).toBe(false);
      } else {
        await waitFor("the task finished on its own", async () => existsSync(join(dir, "marker")), 10_000);
        try {
          process.kill(-supervisor, "SIGKILL");
        } catch {}
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
