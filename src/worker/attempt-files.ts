// The files a supervised task process leaves in its attempt directory, so that a porpoise that
// was killed (-9, OOM, power) can find out after its restart what became of the attempts it was
// running, instead of starting a second copy of a task that is still running (docs/architecture.md §3.10).
//
// The interpreter runs under a supervisor: an `sh -c` wrapper, the process porpoise spawns
// (detached: its own session and process group, pgid = its pid). The wrapper
//   1. writes `.porpoise.pid`: its pid and its start time in clock ticks since boot (field 22
//      of /proc/<pid>/stat) — the pair names the process even after the pid is reused;
//   2. runs the interpreter, whose stdout/stderr go to `.porpoise.out` / `.porpoise.err`
//      (files porpoise opens and follows, not pipes: a pipe dies with its reader, and the task's
//      next line would then kill it with SIGPIPE);
//   3. writes the interpreter's exit status to `.porpoise.exit` and exits with it.
// Both small files are single write(2)s of a few bytes to a new file, so a reader sees them
// whole or empty; an empty one reads as "not written yet".
//
// The wrapper outlives a SIGTERM to the group (`trap : TERM`; a handler, not an ignore, so the
// interpreter still gets the default action): a task that cleans up on SIGTERM gets its grace
// period, and the exit status is still written.

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";

export const ATTEMPT_FILES = {
  out: ".porpoise.out",
  err: ".porpoise.err",
  pid: ".porpoise.pid",
  exit: ".porpoise.exit",
} as const;

// POSIX sh (dash on Debian/Ubuntu, busybox ash on Alpine): a bash wrapper doubled the CPU a
// `true` task costs (200 × `bash script.sh`: 9.4 ms each; under a bash wrapper 21 ms, under sh
// 15-19 ms, user+sys on the loaded 2-core box). The interpreter runs in a subshell that execs
// it, so the wrapper's "Killed" report of a signalled child goes to the wrapper's stderr
// (/dev/null), not into the task's output; field 22 of /proc/$$/stat is read in a function
// because `set --` there leaves the wrapper's "$@" (the command) alone.
const SUPERVISOR =
  "exec 3>&2 2>/dev/null; trap : TERM; set -f; " +
  'ticks() { set -- $1; printf \'%s %s\\n\' $$ "${22}"; }; ' +
  "read -r s < /proc/$$/stat; ticks \"$s\" > " + ATTEMPT_FILES.pid + "; " +
  '(exec "$@" 2>&3 3>&-); c=$?; printf \'%s\\n\' $c > ' + ATTEMPT_FILES.exit + "; exit $c";

/** argv that runs `command` under the supervisor (the process's cwd must be the attempt directory). */
export function supervisedArgv(command: readonly string[]): string[] {
  return ["sh", "-c", SUPERVISOR, "porpoise-task", ...command];
}

/** Where the supervisor's files of an attempt are. */
export function attemptFiles(attemptDir: string): { out: string; err: string; pid: string; exit: string } {
  return { out: join(attemptDir, ATTEMPT_FILES.out), err: join(attemptDir, ATTEMPT_FILES.err), pid: join(attemptDir, ATTEMPT_FILES.pid), exit: join(attemptDir, ATTEMPT_FILES.exit) };
}

// The attempt dir belongs to the task's user (attempt-dirs.ts), who could replace these files
// with a link (to porpoise's secrets) or a FIFO (which would block porpoise's reader forever):
// never follow a link, never block, only regular files, at most 4 KiB.
const READ_SMALL = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
function readSmall(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, READ_SMALL);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    const buf = Buffer.alloc(4096);
    let n = 0;
    for (let got = 1; got > 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    return buf.toString("utf8", 0, n);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The exit status the supervisor recorded; null while there is none (or it is not whole yet). */
export function readExitStatus(exitFile: string): number | null {
  const m = /^(\d+)\n$/.exec(readSmall(exitFile) ?? "");
  return m ? Number(m[1]) : null;
}

/** The supervisor's pid and start time; null when it never wrote them. */
export function readSupervisor(pidFile: string): { pid: number; startTicks: string } | null {
  const m = /^(\d+) (\d+)\n$/.exec(readSmall(pidFile) ?? "");
  return m ? { pid: Number(m[1]), startTicks: m[2]! } : null;
}

/** The start time (field 22 of /proc/<pid>/stat) of a live process; null when there is no such process. */
export function processStartTicks(pid: number): string | null {
  const stat = readSmall(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); a zombie has exited already.
  if (fields[0] === "Z") return null;
  return fields[19] ?? null;
}

/** True while the process the supervisor file names is the same process and still running. */
export function supervisorAlive(sup: { pid: number; startTicks: string }): boolean {
  return processStartTicks(sup.pid) === sup.startTicks;
}
