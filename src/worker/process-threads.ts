// Starts task processes from helper threads, not from the event loop.
//
// Why: Bun.spawn is synchronous — it vforks and the calling thread sleeps until the child has
// exec'd. On a busy box the fresh child waits for a CPU first, so each spawn held the event
// loop ~2.5 ms: 43% of the main thread of `porpoise all` running 1,000 `shell` tasks (`true`,
// --worker-slots 8, cpu-prof on the shared 2-core box), which capped it at ~175 tasks/s while
// the master, the store and the API waited. Spawning from two threads lets those waits overlap
// with each other and with the rest of the engine (microbench, 600 × `bash script.sh`, 8 at a
// time: 390-520/s from the main thread, 680-820/s from two threads).
//
// A thread starts the process (detached: its own session and process group, as before), splits
// its stdout/stderr into lines and posts them back in order, SIGKILLs what the script left in
// its group once the interpreter exits (see process-runner.ts), and posts the exit. Signals to
// the group (stop, timeout) are sent from the main thread with the pid: one process, one pid
// space. The threads start with the first process and are unref'ed while nothing runs.
//
// The thread's code is inline (a Blob URL), so the same file works from source and inside the
// `bun build --compile` executable without a separate entry point.

export type OutputStream = "out" | "err";

export interface ProcessRequest {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface ProcessExit {
  exitCode: number;
  signalCode: string | null;
  /** Reading stdout/stderr failed (the process still ran to its end). */
  readError: string | null;
}

export interface StartedProcess {
  pid: number;
  exited: Promise<ProcessExit>;
}

type FromThread =
  | { id: number; t: "pid"; pid: number }
  | { id: number; t: "fail"; message: string }
  | { id: number; t: OutputStream; lines: string[] }
  | { id: number; t: "exit"; code: number; signal: string | null; readError: string | null };

const THREAD_SOURCE = `
const MAX_LINE_CHARS = 1024 * 1024;
async function pump(id, stream, t) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = [];
    let from = 0;
    let nl = rest.indexOf("\\n");
    while (nl >= 0) { lines.push(rest.slice(from, nl)); from = nl + 1; nl = rest.indexOf("\\n", from); }
    rest = from === 0 ? rest : rest.slice(from);
    while (rest.length > MAX_LINE_CHARS) { lines.push(rest.slice(0, MAX_LINE_CHARS)); rest = rest.slice(MAX_LINE_CHARS); }
    if (lines.length > 0) postMessage({ id, t, lines });
  }
  rest += decoder.decode();
  if (rest !== "") postMessage({ id, t, lines: [rest] });
}
self.onmessage = async ({ data: { id, argv, cwd, env } }) => {
  let proc;
  try {
    proc = Bun.spawn(argv, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  } catch (err) {
    postMessage({ id, t: "fail", message: err instanceof Error ? err.message : String(err) });
    return;
  }
  postMessage({ id, t: "pid", pid: proc.pid });
  const pumps = Promise.allSettled([pump(id, proc.stdout, "out"), pump(id, proc.stderr, "err")]);
  const code = await proc.exited;
  try { process.kill(-proc.pid, "SIGKILL"); } catch {}
  const failed = (await pumps).find((s) => s.status === "rejected");
  const readError = failed ? String(failed.reason instanceof Error ? failed.reason.message : failed.reason) : null;
  postMessage({ id, t: "exit", code, signal: proc.signalCode ?? null, readError });
};
`;

const THREADS = 2;

interface Pending {
  onLine: (stream: OutputStream, line: string) => void;
  started: { resolve: (p: StartedProcess) => void; reject: (err: Error) => void };
  exit: { resolve: (e: ProcessExit) => void; reject: (err: Error) => void } | null;
}

class ProcessThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private broken: Error | null = null;

  constructor(url: string) {
    this.worker = new Worker(url);
    this.worker.unref();
    this.worker.onmessage = (e: MessageEvent<FromThread>) => this.receive(e.data);
    this.worker.onerror = (e) => this.fail(new Error(`process thread failed: ${e.message}`));
  }

  get load(): number {
    return this.broken ? Number.POSITIVE_INFINITY : this.pending.size;
  }

  start(id: number, req: ProcessRequest, onLine: Pending["onLine"]): Promise<StartedProcess> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { onLine, started: { resolve, reject }, exit: null });
      this.worker.postMessage({ id, ...req });
    });
  }

  private done(id: number): void {
    this.pending.delete(id);
    // Unref'ed while idle: a thread must not keep a finished program alive.
    if (this.pending.size === 0) this.worker.unref();
  }

  private receive(msg: FromThread): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    switch (msg.t) {
      case "pid": {
        const exited = new Promise<ProcessExit>((resolve, reject) => (p.exit = { resolve, reject }));
        p.started.resolve({ pid: msg.pid, exited });
        return;
      }
      case "fail":
        this.done(msg.id);
        p.started.reject(new Error(msg.message));
        return;
      case "out":
      case "err":
        for (const line of msg.lines) p.onLine(msg.t, line);
        return;
      case "exit":
        this.done(msg.id);
        p.exit?.resolve({ exitCode: msg.code, signalCode: msg.signal, readError: msg.readError });
    }
  }

  private fail(err: Error): void {
    this.broken = err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.exit) p.exit.reject(err);
      else p.started.reject(err);
    }
    this.worker.terminate();
  }
}

let threads: ProcessThread[] = [];
let url: string | null = null;
let nextId = 0;

/**
 * Starts `argv` in a process group of its own on a helper thread; `onLine` gets each output
 * line (without "\n") in order, all of them before `exited` resolves. Rejects when the
 * program cannot be started (not found, not executable, bad cwd).
 */
export function startProcess(req: ProcessRequest, onLine: (stream: OutputStream, line: string) => void): Promise<StartedProcess> {
  // A thread that died (never seen, but a crash must not fail every later task) is replaced.
  threads = threads.filter((t) => t.load !== Number.POSITIVE_INFINITY);
  url ??= URL.createObjectURL(new Blob([THREAD_SOURCE], { type: "application/javascript" }));
  while (threads.length < THREADS) threads.push(new ProcessThread(url));
  const thread = threads.reduce((a, b) => (b.load < a.load ? b : a));
  return thread.start(++nextId, req, onLine);
}
