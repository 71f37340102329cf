// A cluster worker's task processes die with the worker (task-leash.ts: one reaper per worker):
// once the worker is gone a master reruns its attempts elsewhere, so a task left running here
// would be a second copy. `porpoise all` does not leash: it adopts what outlived it (its tasks run
// under the supervisor of attempt-files.ts). A real process holds the leash here and is killed
// -9; the task's whole process group must go, and so must a child it moved to a session of its
// own, also when the reaper itself was killed before.

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../helpers/wait.ts";

const SRC = join(import.meta.dir, "../../../src/worker");

function holder(dir: string, leash: boolean): string {
  const path = join(dir, "holder.ts");
  writeFileSync(
    path,
    `import { supervisedArgv } from ${JSON.stringify(join(SRC, "attempt-files.ts"))};
import { leashEnv, leashReaperPid, leashTasksToThisProcess, tasksLeashed } from ${JSON.stringify(join(SRC, "task-leash.ts"))};
import { startProcess } from ${JSON.stringify(join(SRC, "process-threads.ts"))};
if (${leash}) leashTasksToThisProcess();
const dir = ${JSON.stringify(dir)};
// The task writes its pid, then (in the background, its own child) sleeps and writes a marker;
// another child leaves the task's process group for a session of its own and does the same.
const script = "echo $$ > task.pid; (sleep 4; echo late > marker) & setsid sh -c 'sleep 4; echo late > detached' & wait";
const command = ["sh", "-c", script];
const p = await startProcess({ argv: tasksLeashed() ? command : supervisedArgv(command), cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...leashEnv() }, output: { out: dir + "/out", err: dir + "/err" } }, () => {});
console.log("started " + p.pid + " reaper " + leashReaperPid());
setInterval(() => {}, 1 << 30); // held open until killed (a bare pending promise makes Bun 1.4.5 spin)
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

const cases = [
  { leash: true, killReaper: false, noGrepZ: false, title: "leashed: kill -9 of the holder kills the task's process group and its detached child at once" },
  { leash: true, killReaper: true, noGrepZ: false, title: "leashed, the reaper killed first: a new one takes over, and kill -9 of the holder still kills the task" },
  { leash: true, killReaper: false, noGrepZ: true, title: "leashed, with a grep that has no -z (older BusyBox): the reaper reads each environment itself" },
  { leash: false, killReaper: false, noGrepZ: false, title: "unleashed (porpoise all): the task outlives the holder, to be adopted" },
];
for (const { leash, killReaper, noGrepZ, title } of cases) {
  test(title, async () => {
    const dir = mkdtempSync(join(tmpdir(), "porpoise-leash-"));
    let proc: Bun.Subprocess<"ignore", "pipe", "inherit"> | null = null;
    try {
      let env: Record<string, string | undefined> = process.env;
      if (noGrepZ) {
        // A grep first on the PATH that refuses -z, as BusyBox builds without it do.
        mkdirSync(join(dir, "bin"));
        writeFileSync(join(dir, "bin", "grep"), '#!/bin/sh\nfor a in "$@"; do case "$a" in -*z*) echo "grep: invalid option -- z" >&2; exit 2;; esac; done\nexec /usr/bin/grep "$@"\n', { mode: 0o755 });
        env = { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}` };
      }
      proc = Bun.spawn([process.execPath, holder(dir, leash)], { cwd: dir, env, stdout: "pipe", stderr: "inherit" });
      const reader = proc.stdout.getReader();
      let out = "";
      while (!/started \d+ reaper/.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`holder exited: ${out}`);
        out += new TextDecoder().decode(value);
      }
      const supervisor = Number(/started (\d+)/.exec(out)![1]);
      const reaper = Number(/reaper (\d+|null)/.exec(out)![1]) || 0;
      expect(reaper > 0).toBe(leash);
      await waitFor("the task wrote its pid", async () => existsSync(join(dir, "task.pid")));
      if (killReaper) {
        process.kill(reaper, "SIGKILL");
        await waitFor("the reaper is gone", async () => !alive(reaper));
        await Bun.sleep(500); // the holder starts a new one after 200 ms
      }
      proc.kill("SIGKILL");
      await proc.exited;
      if (leash) {
        await waitFor("the supervisor's group is gone", async () => !alive(supervisor), 5_000);
        await Bun.sleep(4_500);
        expect(existsSync(join(dir, "marker"))).toBe(false);
        expect(existsSync(join(dir, "detached"))).toBe(false);
      } else {
        await waitFor("the task finished on its own", async () => existsSync(join(dir, "marker")) && existsSync(join(dir, "detached")), 10_000);
        try {
          process.kill(-supervisor, "SIGKILL");
        } catch {}
      }
    } finally {
      proc?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
