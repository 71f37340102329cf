// After a restart (porpoise killed with -9, OOM, power): which attempts the Store still has in
// flight (DISPATCH / RUNNING_EXECUTION) have a supervised process of the dead porpoise in this
// worker's data dir (attempt-files.ts) — one that ended while porpoise was down (its exit
// status is on disk) or one still running (its pid and start time match a live process). Those
// are adopted: the worker follows them to their end and reports their real result, and the
// master leaves them as they are (Master's `adoptInterrupted`). Everything else in flight died
// with porpoise (http/sql tasks run inside it; a process that vanished without an exit status)
// and the master reruns it as NEED_FAULT_TOLERANCE, which uses no retry (docs/architecture.md §3.10).
//
// Why adopt instead of kill-and-rerun: a killed task that already wrote its effect would write
// it again on the rerun, and a task that ran for hours would start over.

import { closeSync, openSync, readSync } from "node:fs";
import { attemptLogPath, attemptWorkDir } from "../core/attempt-paths.ts";
import type { TaskInstance } from "../store/store.ts";
import { attemptFiles, readExitStatus, readSupervisor, supervisorAlive } from "./attempt-files.ts";

export interface Adoptable {
  row: TaskInstance;
  attemptDir: string;
  logPath: string;
  supervisor: { pid: number; startTicks: string };
  /** True when the process had ended already (its exit status is on disk). */
  ended: boolean;
}

const SUPERVISED = new Set(["shell", "python"]);

/** The in-flight attempts whose process ended or still runs (see the top). */
export function findAdoptable(dataDir: string, rows: readonly TaskInstance[], workRoot?: string): Adoptable[] {
  const found: Adoptable[] = [];
  for (const row of rows) {
    if (!SUPERVISED.has(row.taskType) || !row.dispatchToken) continue;
    const attemptDir = attemptWorkDir(dataDir, row, workRoot);
    const files = attemptFiles(attemptDir);
    const supervisor = readSupervisor(files.pid);
    if (!supervisor) continue;
    const ended = readExitStatus(files.exit) !== null;
    if (ended || supervisorAlive(supervisor)) found.push({ row, attemptDir, logPath: attemptLogPath(dataDir, row), supervisor, ended });
  }
  return found;
}

const STAMP = "2025-05-01T10:00:00.123Z".length;

/**
 * How many lines of each stream the old porpoise wrote to the attempt's log: the adopted
 * process's output files hold every line, so these are not logged twice. (A line longer than
 * the thread's 1 MiB cut was logged in pieces; after a restart its tail may repeat.)
 */
export function loggedLineCounts(logPath: string): { out: number; err: number } {
  const counts = { out: 0, err: 0 };
  let fd: number;
  try {
    fd = openSync(logPath, "r");
  } catch {
    return counts;
  }
  try {
    const buf = Buffer.alloc(1024 * 1024);
    let rest = "";
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      const text = rest + buf.toString("latin1", 0, n);
      const lines = text.split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        const tag = line.slice(STAMP, STAMP + 7);
        if (tag === " [out] ") counts.out++;
        else if (tag === " [err] ") counts.err++;
      }
    }
  } finally {
    closeSync(fd);
  }
  return counts;
}
