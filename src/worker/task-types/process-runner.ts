// What shell and python tasks share: write the substituted script into the attempt's working
// directory, start the interpreter in a process group of its own under a small supervisor
// (attempt-files.ts), follow its stdout/stderr into the log line by line (reading OUT params on
// the way), and end the whole group on abort.
//
// Process groups: the supervisor is spawned detached (setsid, by Bun itself), so `kill(-pgid)`
// reaches every process the script started, background ones included. On abort the group gets
// SIGTERM, then SIGKILL after `killGraceMs`. When the interpreter exits by itself, whatever
// it left running in its group is SIGKILLed too: nothing outlives its attempt, and a
// leftover child would otherwise keep writing to the attempt's output. (A script
// that really means to start a daemon can `setsid` it out of the group.)
//
// The one exception is porpoise itself dying: the process group lives on (that is the point of
// setsid), and the restarted worker adopts it (adoptScriptProcess) instead of running it twice.

import { lchown, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { scanOutParams } from "../out-params.ts";
import { paramsToEnv, renderText } from "../substitute.ts";
import { attemptFiles, supervisedArgv } from "../attempt-files.ts";
import { leashEnv, tasksLeashed } from "../task-leash.ts";
import { adoptProcess, startProcess, type AdoptRequest, type OutputStream, type StartedProcess } from "../process-threads.ts";
import { reservedEnvReason } from "../../core/task-env-names.ts";
import type { PythonTask, ShellTask } from "../../core/workflow-schema.ts";
import type { RunAs } from "../run-as.ts";
import { errorText, type TaskContext, type TaskResult } from "./types.ts";

export interface ProcessSpec {
  /** The interpreter and its flags; the program is looked up on the PATH of the task's environment. */
  command: string[];
  scriptFile: string;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

// The script belongs to the task user, who must read it. "wx" (O_EXCL) never follows a link: a
// task that ran in this directory before (the same attempt started again) could have left
// script.sh pointing at a file of porpoise's, which a plain write as root would overwrite.
async function writeScript(path: string, script: string, runAs: RunAs | null): Promise<void> {
  try {
    await writeFile(path, script, { mode: 0o700, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    await rm(path, { force: true });
    await writeFile(path, script, { mode: 0o700, flag: "wx" });
  }
  if (runAs) await lchown(path, runAs.uid, runAs.gid);
}

export async function runScriptProcess(ctx: TaskContext<ShellTask | PythonTask>, spec: ProcessSpec): Promise<TaskResult> {
  const { task, params, log, signal } = ctx;
  const outParams = new Map<string, string>();
  const script = renderText(task.script.replace(/\r\n/g, "\n"), params, ctx.clock);
  const scriptPath = join(ctx.workDir, spec.scriptFile);
  // Written off the event loop (the thread pool): writeFileSync took ~0.4 ms of the main thread
  // per shell task (5% of it in a cpu-prof of 1,000 shell tasks on `porpoise all`).
  await writeScript(scriptPath, script, ctx.runAs);

  const exported = paramsToEnv(params);
  for (const { param, reason } of exported.skipped) log.write("sys", `param "${param}" not exported to the environment: ${reason}`);
  const taskEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(task.env)) {
    // The schema refuses these at save time; a definition stored before that rule still has them.
    const reserved = reservedEnvReason(name);
    if (reserved !== null) log.write("sys", `env ${name} of the task not set: it is reserved (${reserved})`);
    else taskEnv[name] = renderText(value, params, ctx.clock);
  }
  // The task environment last: no param or task env replaces PATH, HOME, TMPDIR, … (task-environment.ts),
  // nor the leash's mark (task-leash.ts).
  const env = { ...exported.env, ...taskEnv, ...ctx.env, ...leashEnv() };

  if (signal.aborted) return { state: "KILL", outParams: {}, message: "stopped before it started" };
  const onLine = lineReader(log, outParams);
  let proc: StartedProcess;
  try {
    // On a helper thread: a spawn blocks its thread until the child has exec'd (process-threads.ts).
    const output = attemptFiles(ctx.workDir);
    // The supervisor and the interpreter run as the task's user (run-as.ts). A leashed worker's
    // task runs without the supervisor: nothing adopts it after a crash (task-leash.ts).
    const user = ctx.runAs ? { uid: ctx.runAs.uid, gid: ctx.runAs.gid } : {};
    const command = [...spec.command, scriptPath];
    proc = await startProcess({ argv: tasksLeashed() ? command : supervisedArgv(command), cwd: ctx.workDir, env, output, ...user }, onLine);
  } catch (err) {
    const message = `could not start ${spec.command[0]}: ${errorText(err)}`;
    log.write("sys", message);
    return { state: "FAILURE", outParams: {}, message };
  }
  log.write("sys", `started ${spec.command.join(" ")} ${spec.scriptFile} (pid ${proc.pid}) in ${ctx.workDir}`);
  return supervise(ctx, proc, outParams);
}

/** Follows a process an earlier porpoise started for this attempt to its end (see the top). */
export async function adoptScriptProcess(ctx: Pick<TaskContext, "log" | "signal" | "killGraceMs">, req: AdoptRequest): Promise<TaskResult> {
  const outParams = new Map<string, string>();
  let proc: StartedProcess;
  try {
    // OUT params are read from the whole output, the part the old process logged included.
    const seen = { out: req.skip.out, err: req.skip.err };
    const log = ctx.log;
    const onLine = lineReader(log, outParams);
    proc = await adoptProcess({ ...req, skip: { out: 0, err: 0 } }, (stream, text) => {
      if (seen[stream] > 0) {
        seen[stream]--;
        scanOutParams(text.endsWith("\r") ? text.slice(0, -1) : text, outParams);
      } else onLine(stream, text);
    });
  } catch (err) {
    const message = `could not follow the running process ${req.pid} after the restart: ${errorText(err)}`;
    ctx.log.write("sys", message);
    return { state: "FAILURE", outParams: {}, message };
  }
  ctx.log.write("sys", `porpoise restarted: following the attempt's process group ${req.pid} (still running or ended while porpoise was down) instead of starting it again`);
  return supervise(ctx, proc, outParams);
}

function lineReader(log: TaskContext["log"], outParams: Map<string, string>) {
  return (stream: OutputStream, text: string) => {
    const line = text.endsWith("\r") ? text.slice(0, -1) : text;
    scanOutParams(line, outParams);
    log.write(stream, line);
  };
}

async function supervise(ctx: Pick<TaskContext, "log" | "signal" | "killGraceMs">, proc: StartedProcess, outParams: Map<string, string>): Promise<TaskResult> {
  const { log, signal } = ctx;

  let killTimer: ReturnType<typeof setTimeout> | null = null;
  const onAbort = () => {
    log.write("sys", `stopping: SIGTERM to process group ${proc.pid}`);
    killGroup(proc.pid, "SIGTERM");
    killTimer = setTimeout(() => {
      log.write("sys", `still running ${ctx.killGraceMs} ms after SIGTERM: SIGKILL to process group ${proc.pid}`);
      killGroup(proc.pid, "SIGKILL");
    }, ctx.killGraceMs);
  };
  // A stop that came while the process was being started is applied now.
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });

  // The thread SIGKILLs leftovers of the group once the interpreter exits (see above) and posts
  // every output line before the exit.
  const { exitCode, signalCode, readError, vanished } = await proc.exited;
  if (readError !== null) log.write("sys", `reading output failed: ${readError}`);
  signal.removeEventListener("abort", onAbort);
  if (killTimer) clearTimeout(killTimer);

  const result = { exitCode, outParams: Object.fromEntries(outParams) };
  if (signal.aborted) {
    log.write("sys", `stopped (exit code ${exitCode}${signalCode ? `, ${signalCode}` : ""})`);
    return { ...result, state: "KILL", message: "stopped" };
  }
  if (vanished) {
    const message = "the task's process ended without an exit status (killed together with its supervisor while porpoise was down?)";
    log.write("sys", message);
    return { outParams: result.outParams, state: "FAILURE", message };
  }
  if (exitCode === 0) {
    log.write("sys", "exit code 0");
    return { ...result, state: "SUCCESS" };
  }
  const message = signalCode ? `killed by ${signalCode} (exit code ${exitCode})` : `exit code ${exitCode}`;
  log.write("sys", message);
  return { ...result, state: "FAILURE", message };
}
