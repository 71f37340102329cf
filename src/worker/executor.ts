// Runs ONE attempt of a worker task (shell, python, http, sql, noop): makes the attempt's
// working directory, opens its log, applies the task timeout, runs the task type and returns
// its result. Task failures are results, never exceptions; it throws only when called wrong
// (a master-side task type).
//
// Timeout (from the start of the attempt): WARN logs a line, calls `onWarn` once and lets the
// task go on; FAILED aborts the runner (processes get SIGTERM, then SIGKILL) and the attempt
// is a FAILURE "timed out after Ns" — the master then retries it if retries remain. An abort
// of `signal` (stop, kill) ends the attempt as KILL.
//
// Nothing is removed afterwards: the working directory (with the script as it ran) and the
// log stay for people to inspect. Pruning old attempt directories is the worker's job (by
// age, outside the dispatch path), not the executor's.

import { statfs } from "node:fs";
import { userInfo } from "node:os";
import { after } from "../core/long-timer.ts";
import type { Egress } from "./egress.ts";
import type { TaskDefinition } from "../core/workflow-schema.ts";
import type { TimeContext } from "../core/params/index.ts";
import { checkDeclaredOut } from "./attempt-params.ts";
import { makeAttemptDirs } from "./attempt-dirs.ts";
import type { RunAs, TaskIdentity } from "./run-as.ts";
import { taskEnvironment } from "./task-environment.ts";
import { fsErrorReason, openTaskLogAsync } from "./task-log.ts";
import { httpRunner } from "./task-types/http.ts";
import { noopRunner } from "./task-types/noop.ts";
import { pythonRunner } from "./task-types/python.ts";
import { shellRunner } from "./task-types/shell.ts";
import { sqlRunner } from "./task-types/sql.ts";
import { errorText, isWorkerTask, type DatasourceLookup, type TaskResult, type TaskRunner, type WorkerTask, type WorkerTaskType } from "./task-types/types.ts";

export const DEFAULT_KILL_GRACE_MS = 5000;
// USER/LOGNAME of a task when the caller names no identity (porpoise's own user; tests).
let ownUserName: string | null = null;
function ownUser(): string {
  try {
    ownUserName ??= userInfo().username;
  } catch {
    ownUserName = String(process.getuid?.() ?? "unknown");
  }
  return ownUserName;
}

const runners: { [K in WorkerTaskType]: TaskRunner<Extract<WorkerTask, { type: K }>> } = {
  shell: shellRunner,
  python: pythonRunner,
  http: httpRunner,
  sql: sqlRunner,
  noop: noopRunner,
};

export interface TimeoutWarning {
  task: string;
  timeoutSeconds: number;
}

export interface RunAttemptOptions {
  task: TaskDefinition;
  params: Readonly<Record<string, string>>;
  /** The attempt's working directory, e.g. `<dataDir>/work/<workflowInstanceId>/<taskInstanceId>-<attempt>`; created here. */
  attemptDir: string;
  /** See `taskLogPath` in task-log.ts. */
  logPath: string;
  /** Left out: the task's own `timeout`; none when neither is set. */
  timeoutSeconds?: number;
  /** Left out: the task's own `timeoutStrategy`. */
  timeoutStrategy?: TaskDefinition["timeoutStrategy"];
  /** Stop / kill of this attempt. */
  signal: AbortSignal;
  datasources: DatasourceLookup;
  /** Called once when a WARN timeout passes (the task goes on). */
  onWarn?: (warning: TimeoutWarning) => void;
  /**
   * Variables of the server's environment the operator passes through (--task-env-pass), on top
   * of the documented task environment (task-environment.ts). Nothing is read from process.env here.
   */
  env?: Readonly<Record<string, string>>;
  /** Who shell and python processes run as (run-as.ts); left out: porpoise's own user, no switch. A refusal fails the attempt. */
  identity?: TaskIdentity;
  /** Log size cap of this attempt (task-log.ts default when left out). */
  logMaxBytes?: number;
  killGraceMs?: number;
  /** Base time and zone of `$[...]` written in task text (left out: `$[...]` stays as written). */
  clock?: TimeContext;
  /** Egress policy of http tasks (left out: the built-in one). */
  egress?: Egress;
}

/** True when the file system of `dir` has no block left for an unprivileged writer. Only asked on a failure. */
function diskFull(dir: string): Promise<boolean> {
  return new Promise((resolve) => statfs(dir, (err, st) => resolve(!err && st.bavail === 0)));
}

export async function runAttempt(opts: RunAttemptOptions): Promise<TaskResult> {
  const { task } = opts;
  if (!isWorkerTask(task)) throw new Error(`runAttempt: a ${task.type} task is run by the master, not by a worker`);
  // Off the event loop, both at once: as sync calls they were 1.1-1.6 ms of the main thread per
  // shell task on the shared box (cpu-prof of porpoise all, 1,000 shell tasks; see task-log.ts).
  const runAs: RunAs | null = opts.identity?.ok ? opts.identity.runAs : null;
  const [made, opened] = await Promise.allSettled([makeAttemptDirs(opts.attemptDir, runAs), openTaskLogAsync(opts.logPath, { maxBytes: opts.logMaxBytes })]);
  // A full disk or an unwritable data dir fails the attempt with the reason; it never throws
  // (a throw left the attempt RUNNING with no report).
  if (opened.status === "rejected") {
    return { state: "FAILURE", outParams: {}, message: `${fsErrorReason(opened.reason)} creating the task log ${opts.logPath}` };
  }
  const log = opened.value;
  if (made.status === "rejected") {
    const message = `${fsErrorReason(made.reason)} creating the working directory ${opts.attemptDir}`;
    log.write("sys", message);
    log.close();
    return { state: "FAILURE", outParams: {}, message };
  }
  const timeoutSeconds = opts.timeoutSeconds ?? task.timeout;
  const strategy = opts.timeoutStrategy ?? task.timeoutStrategy;
  const abort = new AbortController();
  const onStop = () => abort.abort(opts.signal.reason);
  if (opts.signal.aborted) onStop();
  else opts.signal.addEventListener("abort", onStop, { once: true });

  let timedOut = false;
  let cancelTimer = () => {};
  if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
    cancelTimer = after(timeoutSeconds * 1000, () => {
      if (strategy === "WARN") {
        // Recorded on the task instance and as an alert event by the master, which also notifies the alert policies that want it.
        log.write("sys", `still running after ${timeoutSeconds}s (timeout, strategy WARN): the warning is recorded on the task instance; the task goes on`);
        opts.onWarn?.({ task: task.name, timeoutSeconds });
        return;
      }
      timedOut = true;
      log.write("sys", `timed out after ${timeoutSeconds}s (timeout, strategy FAILED): stopping the task`);
      abort.abort(new Error(`timed out after ${timeoutSeconds}s`));
    });
  }

  log.write("sys", `task "${task.name}" (${task.type}) attempt started${runAs ? ` as ${runAs.name} (uid ${runAs.uid})` : ""}`);
  if (opts.identity?.ok && opts.identity.note) log.write("sys", opts.identity.note);
  let result: TaskResult;
  try {
    if (opts.identity && !opts.identity.ok) throw new Error(opts.identity.message);
    const runner = runners[task.type] as TaskRunner<WorkerTask>;
    result = await runner.run({
      task,
      params: opts.params,
      workDir: opts.attemptDir,
      log,
      signal: abort.signal,
      env: taskEnvironment({ user: runAs?.name ?? ownUser(), attemptDir: opts.attemptDir, passThrough: opts.env }),
      runAs: runAs?.switchUser ? runAs : null,
      datasources: opts.datasources,
      killGraceMs: opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.egress ? { egress: opts.egress } : {}),
    });
    result = checkDeclaredOut(task, result);
  } catch (err) {
    const message = `the ${task.type} task could not run: ${fsErrorReason(err)}${(err as NodeJS.ErrnoException)?.code ? ` (${errorText(err)})` : ""}`;
    log.write("sys", message);
    result = { state: "FAILURE", outParams: {}, message };
  } finally {
    cancelTimer();
    opts.signal.removeEventListener("abort", onStop);
  }
  if (timedOut && result.state === "KILL") result = { ...result, state: "FAILURE", message: `timed out after ${timeoutSeconds}s` };
  log.write("sys", `attempt ended: ${result.state}${result.message ? ` (${result.message})` : ""}`);
  log.close();
  // What the task did cannot be shown: the attempt fails, saying why (a KILL stays a KILL).
  if (log.failure !== null && result.state !== "KILL") {
    result = { ...result, state: "FAILURE", message: result.state === "FAILURE" && result.message ? `${result.message}; ${log.failure}` : log.failure };
  } else if (result.state === "FAILURE" && (await diskFull(opts.attemptDir))) {
    // The task's own output file met the full disk first (its writes failed, so it did): say so.
    result = { ...result, message: `${result.message ?? "failed"}; no space left on device in ${opts.attemptDir} (the task's output could not be written)` };
  }
  return result;
}
