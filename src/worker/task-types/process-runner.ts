// What shell and python tasks share: write the substituted script into the attempt's working
// directory, start the interpreter in a process group of its own, stream stdout/stderr into
// the log line by line (reading OUT params on the way), and end the whole group on abort.
//
// Process groups: the interpreter is spawned detached (setsid), so `kill(-pgid)` reaches
// every process the script started, background ones included. On abort the group gets
// SIGTERM, then SIGKILL after `killGraceMs`. When the interpreter exits by itself, whatever
// it left running in its group is SIGKILLed too: nothing outlives its attempt, and a
// leftover child holding stdout open would otherwise keep the attempt from ending. (A script
// that really means to start a daemon can `setsid` it out of the group.)

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { scanOutParams } from "../out-params.ts";
import { paramsToEnv, renderText } from "../substitute.ts";
import type { LogStream } from "../task-log.ts";
import type { PythonTask, ShellTask } from "../../core/workflow-schema.ts";
import { errorText, type TaskContext, type TaskResult } from "./types.ts";

// A line longer than this is cut into pieces: output without newlines must not grow memory.
const MAX_LINE_CHARS = 1024 * 1024;

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

async function pump(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  const emit = (line: string) => onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    let nl = rest.indexOf("\n");
    let from = 0;
    while (nl >= 0) {
      emit(rest.slice(from, nl));
      from = nl + 1;
      nl = rest.indexOf("\n", from);
    }
    rest = from === 0 ? rest : rest.slice(from);
    while (rest.length > MAX_LINE_CHARS) {
      emit(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
  }
  rest += decoder.decode();
  if (rest !== "") emit(rest);
}

export async function runScriptProcess(ctx: TaskContext<ShellTask | PythonTask>, spec: ProcessSpec): Promise<TaskResult> {
  const { task, params, log, signal } = ctx;
  const outParams = new Map<string, string>();
  const script = renderText(task.script.replace(/\r\n/g, "\n"), params, ctx.clock);
  const scriptPath = join(ctx.workDir, spec.scriptFile);
  // Written off the event loop (the thread pool): writeFileSync took ~0.4 ms of the main thread
  // per shell task (5% of it in a cpu-prof of 1,000 shell tasks on `porpoise all`).
  await writeFile(scriptPath, script, { mode: 0o700 });

  const exported = paramsToEnv(params);
  for (const { param, reason } of exported.skipped) log.write("sys", `param "${param}" not exported to the environment: ${reason}`);
  const taskEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(task.env)) taskEnv[name] = renderText(value, params, ctx.clock);
  const env = { ...ctx.env, ...exported.env, ...taskEnv };

  if (signal.aborted) return { state: "KILL", outParams: {}, message: "stopped before it started" };
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn([...spec.command, scriptPath], { cwd: ctx.workDir, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  } catch (err) {
    const message = `could not start ${spec.command[0]}: ${errorText(err)}`;
    log.write("sys", message);
    return { state: "FAILURE", outParams: {}, message };
  }
  log.write("sys", `started ${spec.command.join(" ")} ${spec.scriptFile} (pid ${proc.pid}) in ${ctx.workDir}`);

  let killTimer: ReturnType<typeof setTimeout> | null = null;
  const onAbort = () => {
    log.write("sys", `stopping: SIGTERM to process group ${proc.pid}`);
    killGroup(proc.pid, "SIGTERM");
    killTimer = setTimeout(() => {
      log.write("sys", `still running ${ctx.killGraceMs} ms after SIGTERM: SIGKILL to process group ${proc.pid}`);
      killGroup(proc.pid, "SIGKILL");
    }, ctx.killGraceMs);
  };
  signal.addEventListener("abort", onAbort, { once: true });

  const line = (stream: LogStream) => (text: string) => {
    scanOutParams(text, outParams);
    log.write(stream, text);
  };
  const pumps = Promise.all([pump(proc.stdout, line("out")), pump(proc.stderr, line("err"))]);
  const exitCode = await proc.exited;
  // Leftovers of the group (background children) would hold the pipes open; see above.
  killGroup(proc.pid, "SIGKILL");
  await pumps.catch((err) => log.write("sys", `reading output failed: ${errorText(err)}`));
  signal.removeEventListener("abort", onAbort);
  if (killTimer) clearTimeout(killTimer);

  const result = { exitCode, outParams: Object.fromEntries(outParams) };
  if (signal.aborted) {
    log.write("sys", `stopped (exit code ${exitCode}${proc.signalCode ? `, ${proc.signalCode}` : ""})`);
    return { ...result, state: "KILL", message: "stopped" };
  }
  if (exitCode === 0) {
    log.write("sys", "exit code 0");
    return { ...result, state: "SUCCESS" };
  }
  const message = proc.signalCode ? `killed by ${proc.signalCode} (exit code ${exitCode})` : `exit code ${exitCode}`;
  log.write("sys", message);
  return { ...result, state: "FAILURE", message };
}
