// Real porpoise processes for the CLI and binary tests: output is collected as it arrives,
// and tests wait for lines or exit, never for fixed times.

import { join } from "node:path";

export const MAIN = join(import.meta.dir, "../../src/main.ts");

/** `bun src/main.ts` with the Bun running the tests. */
export const fromSource = (args: string[]) => [process.execPath, MAIN, ...args];

/** A clean environment: nothing PORPOISE_* leaks in from the developer's shell. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs to completion (with a deadline, so a hang fails the test instead of stalling the run). */
export async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Finished> {
  const p = spawn(cmd, opts);
  const code = await p.exit(opts.timeoutMs ?? 20_000);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export interface Spawned {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout or stderr; rejects on exit or deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The exit code; kills the process and rejects if it has not exited within `timeoutMs`. */
  exit(timeoutMs?: number): Promise<number>;
  signal(sig: NodeJS.Signals): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export function spawn(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Spawned {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const out = { stdout: "", stderr: "" };
  let changed: () => void = () => {};
  const notify = () => {
    const c = changed;
    changed = () => {};
    c();
  };
  const pump = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      out[key] += decoder.decode(chunk, { stream: true });
      notify();
    }
  };
  const pumped = Promise.all([pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr")]);
  const exited = proc.exited.then(async (code) => {
    await pumped;
    notify();
    return code;
  });
  let done = false;
  exited.then(() => (done = true));

  const describe = () => `\n--- stdout ---\n${out.stdout}\n--- stderr ---\n${out.stderr}`;

  return {
    pid: proc.pid,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.stdout.match(pattern) ?? out.stderr.match(pattern);
        if (m) return m;
        if (done) throw new Error(`process exited (code ${proc.exitCode}) before printing ${pattern}${describe()}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}${describe()}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          changed = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
    },
    async exit(timeoutMs = 20_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), timeoutMs);
      });
      const result = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (result === "late") {
        proc.kill("SIGKILL");
        await exited;
        throw new Error(`process did not exit within ${timeoutMs} ms${describe()}`);
      }
      return result;
    },
    signal(sig) {
      proc.kill(sig);
    },
    async [Symbol.asyncDispose]() {
      if (!done) {
        proc.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** Polls a URL until it answers `status` (a condition, with a deadline; each try is one request). */
export async function waitForStatus(url: string, status: number, timeoutMs = 20_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === status) return res;
      last = `HTTP ${res.status}: ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
