// Task processes that die with their worker (docs/architecture.md §3.10): a cluster or edge
// worker's attempts are rerun elsewhere once the worker is gone, so a task still running on its
// machine would be a second copy. `porpoise all` is not leashed: after a kill -9 it adopts what
// outlived it (attempt-files.ts).
//
// One reaper process per worker, not a wrapper per task: a small `sh` the worker starts in a
// session of its own, whose stdin is a pipe only the worker holds. It blocks reading it; end of
// file comes when the worker's process ends, however it ends (kill -9, OOM, a crash). It then
// kills the process group of every process whose environment carries this worker's mark
// (PORPOISE_LEASH=<random>, set on every task the worker starts, last, so neither a param nor a
// task's env replaces it) and every such process itself — found in /proc, so nothing has to be
// registered between a spawn and a crash. Twice, for what forked during the first pass. A process
// that cleared its environment or moved its children to new sessions can escape; a script cannot
// detach by mistake. Where grep has no -z (older BusyBox), each environment is read through tr.
//
// Why: a leash per task (a wrapper `sh` whose background subshell read the pipe) cost one more
// exec per shell task, a third of a `true` task's CPU on a 2-core VM (sh -c + bash 13.9 ms
// against bash 9.5 ms per task, user + sys), and the leashed path never needed the wrapper's exit
// file: nothing adopts a leashed worker's tasks.

import { randomBytes } from "node:crypto";
import type { Logger } from "../core/log.ts";

export const LEASH_ENV = "PORPOISE_LEASH";

// grep -z reads NUL-separated records (GNU grep, recent BusyBox); where it is missing each
// environment goes through tr instead, one process at a time.
const REAPER = [
  'm="$1"',
  "while read -r _; do :; done",
  "for round in 1 2; do",
  "  if printf 'x\\0' | grep -qxz x 2>/dev/null; then",
  `    found=$(grep -lsxz "${LEASH_ENV}=$m" /proc/[0-9]*/environ 2>/dev/null)`,
  "  else",
  `    found=$(for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' 2>/dev/null < "$f" | grep -qx "${LEASH_ENV}=$m" && echo "$f"; done)`,
  "  fi",
  "  for f in $found; do",
  '    p=${f#/proc/}; p=${p%/environ}',
  '    read -r s < "/proc/$p/stat" || continue',
  '    s=${s##*) }; set -- $s',
  '    kill -s KILL -- "-$3" "$p" 2>/dev/null',
  "  done",
  "done",
].join("\n");

interface Leash {
  mark: string;
  reaper: Bun.Subprocess<"pipe", "ignore", "ignore">;
}

let leash: Leash | null = null;

function startReaper(mark: string, log: Logger | undefined): Leash["reaper"] {
  const reaper = Bun.spawn(["sh", "-c", REAPER, "porpoise-leash", mark], {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "ignore",
    detached: true,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  reaper.unref();
  // Killed by someone else: a new one, so later and running tasks stay leashed (same mark).
  void reaper.exited.then((code) => {
    if (leash?.reaper !== reaper) return;
    log?.warn("the task leash process ended; starting a new one", { pid: reaper.pid, code });
    setTimeout(() => {
      if (leash?.reaper === reaper) leash.reaper = startReaper(mark, log);
    }, 200).unref();
  });
  return reaper;
}

/** From now on, task processes of this process die with it. Called once by the mode. */
export function leashTasksToThisProcess(log?: Logger): void {
  if (leash) return;
  const mark = randomBytes(12).toString("hex");
  leash = { mark, reaper: startReaper(mark, log) };
}

export function tasksLeashed(): boolean {
  return leash !== null;
}

/** What a leashed task's environment must hold (nothing when not leashed). */
export function leashEnv(): Record<string, string> {
  return leash ? { [LEASH_ENV]: leash.mark } : {};
}

/** The reaper's pid (tests). */
export function leashReaperPid(): number | null {
  return leash?.reaper.pid ?? null;
}
