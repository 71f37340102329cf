// Where a worker keeps an attempt's files under its data dir — the log and the working directory
// (`system.task.execute.path`) — in one place, so the API can show the working directory of an
// attempt from the log path the worker reported, without knowing the worker's data dir.
//   <dataDir>/logs/<workflow instance>/<task instance>-<attempt>.log
//   <work-dir>/<workflow instance>/<task instance>-<attempt>
// where <work-dir> is --work-dir (`porpoise all` passes it to the worker and the API alike; see
// worker/attempt-dirs.ts) and <dataDir>/work where none is given (engines built by tests).

import { basename, dirname, join } from "node:path";

export interface AttemptRef {
  workflowInstanceId: number;
  id: number;
  attempt: number;
}

export function attemptLogPath(dataDir: string, a: AttemptRef): string {
  return join(dataDir, "logs", String(a.workflowInstanceId), `${a.id}-${a.attempt}.log`);
}

export function attemptWorkDir(dataDir: string, a: AttemptRef, workRoot?: string): string {
  return join(workRoot ?? join(dataDir, "work"), String(a.workflowInstanceId), `${a.id}-${a.attempt}`);
}

/** The working directory of the attempt whose log is at `logPath`; null when the path is not laid out as above. */
export function workDirFromLogPath(logPath: string, a: AttemptRef, workRoot?: string): string | null {
  if (basename(logPath) !== `${a.id}-${a.attempt}.log`) return null;
  const instanceDir = dirname(logPath);
  if (basename(instanceDir) !== String(a.workflowInstanceId)) return null;
  const logs = dirname(instanceDir);
  if (basename(logs) !== "logs") return null;
  return attemptWorkDir(dirname(logs), a, workRoot);
}
