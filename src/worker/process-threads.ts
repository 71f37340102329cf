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
// A thread starts the process (detached: its own session and process group, as before) with
// stdout/stderr appended to files in the attempt directory (attempt-files.ts: the process must
// outlive a porpoise killed with -9), follows the files and posts their lines back in order per
// stream, SIGKILLs what the script left in its group once the interpreter exits (see
// process-runner.ts), and posts the exit. It also follows a process adopted after a restart. Signals to
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
  /** Files the process's stdout and stderr are appended to (created); followed for lines. */
  output: { out: string; err: string };
  /** Switch to this user and group before exec (porpoise must be root; see worker/run-as.ts). */
  uid?: number;
  gid?: number;
}

/** A supervised process of an earlier porpoise, found alive (or ended) after a restart (attempt-files.ts). */
export interface AdoptRequest {
  pid: number;
  startTicks: string;
  exitFile: string;
  output: { out: string; err: string };
  /** Lines of each file the old process already logged: not delivered again. */
  skip: { out: number; err: number };
}

export interface ProcessExit {
  exitCode: number;
  signalCode: string | null;
  /** Reading stdout/stderr failed (the process still ran to its end). */
  readError: string | null;
  /** An adopted process that ended without an exit status (killed with its supervisor). */
  vanished?: boolean;
}

export interface StartedProcess {
  pid: number;
  exited: Promise<ProcessExit>;
}

type FromThread =
  | { id: number; t: "pid"; pid: number }
  | { id: number; t: "fail"; message: string }
  | { id: number; t: OutputStream; lines: string[] }
  | { id: number; t: "exit"; code: number; signal: string | null; readError: string | null; vanished?: boolean };

// Output is followed by reading the files: at once when the process exits, and meanwhile every
// POLL_MIN..POLL_MAX ms (shorter while it prints). A short task (`true`) exits before the first
// poll, so it costs two reads; a long quiet one ~10 reads a second.
const THREAD_SOURCE = `
import { openSync, readSync, closeSync, readFileSync, constants as F } from "node:fs";
import { constants } from "node:os";
const MAX_LINE_CHARS = 1024 * 1024;
const POLL_MIN = 10, POLL_MAX = 100;
// The files are in the attempt dir, which belongs to the task's user (attempt-dirs.ts): never
// follow a link it may have put there (to the admin token, say, whose lines would then land in
// the task's log), never block on a FIFO.
const APPEND = F.O_WRONLY | F.O_APPEND | F.O_CREAT | F.O_NOFOLLOW | F.O_NONBLOCK;
const READ = F.O_RDONLY | F.O_NOFOLLOW | F.O_NONBLOCK;
const SIGNALS = Object.fromEntries(Object.entries(constants.signals).map(([k, v]) => [v, k]));
const buf = Buffer.alloc(64 * 1024);
class Tail {
  constructor(id, path, t, skip) { this.id = id; this.t = t; this.skip = skip; this.fd = openSync(path, READ); this.pos = 0; this.rest = ""; this.decoder = new TextDecoder(); }
  emit(lines) {
    if (this.skip > 0) { const n = Math.min(this.skip, lines.length); this.skip -= n; lines = lines.slice(n); }
    if (lines.length > 0) postMessage({ id: this.id, t: this.t, lines });
  }
  read() {
    let got = false;
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, this.pos);
      if (n <= 0) return got;
      got = true;
      this.pos += n;
      this.rest += this.decoder.decode(buf.subarray(0, n), { stream: true });
      const lines = [];
      let from = 0;
      let nl = this.rest.indexOf("\\n");
      while (nl >= 0) { lines.push(this.rest.slice(from, nl)); from = nl + 1; nl = this.rest.indexOf("\\n", from); }
      this.rest = from === 0 ? this.rest : this.rest.slice(from);
      while (this.rest.length > MAX_LINE_CHARS) { lines.push(this.rest.slice(0, MAX_LINE_CHARS)); this.rest = this.rest.slice(MAX_LINE_CHARS); }
      this.emit(lines);
    }
  }
  end() {
    this.read();
    this.rest += this.decoder.decode();
    if (this.rest !== "") this.emit([this.rest]);
    closeSync(this.fd);
  }
}
// Reads both files until ended() is true, then once more (everything written before the end is in them).
async function follow(tails, ended) {
  let wait = POLL_MIN;
  let readError = null;
  const readAll = () => { let got = false; for (const t of tails) { try { got = t.read() || got; } catch (e) { readError ??= String(e && e.message || e); } } return got; };
  while (!(await ended(wait))) wait = readAll() ? POLL_MIN : Math.min(wait * 2, POLL_MAX);
  for (const t of tails) { try { t.end(); } catch (e) { readError ??= String(e && e.message || e); } }
  return readError;
}
function startTicks(pid) {
  let stat;
  try { stat = readFileSync("/proc/" + pid + "/stat", "utf8"); } catch { return null; }
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return f[0] === "Z" ? null : f[19];
}
function exitStatus(path) {
  let fd;
  try { fd = openSync(path, READ); } catch { return null; }
  try {
    const b = Buffer.alloc(64);
    const m = /^(\\d+)\\n$/.exec(b.toString("utf8", 0, readSync(fd, b, 0, 64, 0)));
    return m ? Number(m[1]) : null;
  } catch { return null; } finally { closeSync(fd); }
}
// A supervised interpreter killed by a signal exits its wrapper with 128 + the signal number
// (an unsupervised one, leashed, reports its signal itself).
function signalOf(code) { return code > 128 && SIGNALS[code - 128] ? SIGNALS[code - 128] : null; }
async function start({ id, argv, cwd, env, output, uid, gid }) {
  let proc, tails;
  try {
    const out = openSync(output.out, APPEND, 0o600), err = openSync(output.err, APPEND, 0o600);
    const user = uid === undefined ? {} : { uid, gid };
    try { proc = Bun.spawn(argv, { cwd, env, stdin: "ignore", stdout: out, stderr: err, detached: true, ...user }); }
    finally { closeSync(out); closeSync(err); }
    tails = [new Tail(id, output.out, "out", 0), new Tail(id, output.err, "err", 0)];
  } catch (err) {
    if (proc) { try { process.kill(-proc.pid, "SIGKILL"); } catch {} }
    postMessage({ id, t: "fail", message: err instanceof Error ? err.message : String(err) });
    return;
  }
  postMessage({ id, t: "pid", pid: proc.pid });
  let code = null;
  proc.exited.then((c) => (code = c));
  const readError = await follow(tails, async (wait) => code !== null || (await Promise.race([proc.exited.then(() => true), Bun.sleep(wait).then(() => false)])));
  try { process.kill(-proc.pid, "SIGKILL"); } catch {}
  code = await proc.exited;
  postMessage({ id, t: "exit", code, signal: proc.signalCode ?? signalOf(code), readError });
}
async function adopt(id, { pid, startTicks: ticks, exitFile, output, skip }) {
  let tails;
  try { tails = [new Tail(id, output.out, "out", skip.out), new Tail(id, output.err, "err", skip.err)]; }
  catch (err) { postMessage({ id, t: "fail", message: err instanceof Error ? err.message : String(err) }); return; }
  postMessage({ id, t: "pid", pid });
  let code = null;
  const readError = await follow(tails, async (wait) => {
    code = exitStatus(exitFile);
    if (code !== null || startTicks(pid) !== ticks) return true;
    await Bun.sleep(wait);
    return false;
  });
  code ??= exitStatus(exitFile);
  try { process.kill(-pid, "SIGKILL"); } catch {}
  if (code === null) postMessage({ id, t: "exit", code: -1, signal: null, readError, vanished: true });
  else postMessage({ id, t: "exit", code, signal: signalOf(code), readError });
}
self.onmessage = ({ data }) => (data.adopt ? adopt(data.id, data.adopt) : start(data));
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

  start(id: number, req: { id?: never } & (ProcessRequest | { adopt: AdoptRequest }), onLine: Pending["onLine"]): Promise<StartedProcess> {
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
        p.exit?.resolve({ exitCode: msg.code, signalCode: msg.signal, readError: msg.readError, ...(msg.vanished ? { vanished: true } : {}) });
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
  return leastLoaded().start(++nextId, req, onLine);
}

/**
 * Follows a supervised process an earlier porpoise started (see attempt-files.ts): its output
 * from where the old log ended, and its end — the supervisor's exit file, or the process gone
 * without one (`vanished`). Rejects when the output files cannot be opened.
 */
export function adoptProcess(req: AdoptRequest, onLine: (stream: OutputStream, line: string) => void): Promise<StartedProcess> {
  return leastLoaded().start(++nextId, { adopt: req }, onLine);
}

function leastLoaded(): ProcessThread {
  // A thread that died (never seen, but a crash must not fail every later task) is replaced.
  threads = threads.filter((t) => t.load !== Number.POSITIVE_INFINITY);
  url ??= URL.createObjectURL(new Blob([THREAD_SOURCE], { type: "application/javascript" }));
  while (threads.length < THREADS) threads.push(new ProcessThread(url));
  return threads.reduce((a, b) => (b.load < a.load ? b : a));
}
