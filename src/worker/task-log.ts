// One log file per task attempt, e.g. `<dataDir>/logs/<workflowInstanceId>/<taskInstanceId>-<attempt>.log`
// (the caller picks the path; `taskLogPath` is the convention). Plain text, one line per
// output line:
//
//   2025-05-01T10:00:00.123Z [out] hello          stdout of the task
//   2025-05-01T10:00:00.124Z [err] warning: …     stderr of the task
//   2025-05-01T10:00:00.125Z [sys] exit code 0    porpoise's own lines (start, exit, timeout, truncation)
//
// Size cap: once a line would take the file past `maxBytes`, one `[sys] log truncated …` line
// is written and every later line is dropped. Only the log is capped: runners still read
// OUT params (`${setValue(k=v)}`) from the dropped output, so a task that prints its result
// at the end of a huge output still passes it on.
//
// Writes are buffered and flushed on the next macrotask (or at 64 KiB), so a follower sees
// output within a tick and a chatty task costs one write() per batch, not per line.

import { closeSync, fstat, fstatSync, mkdir, mkdirSync, open, openSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

export type LogStream = "out" | "err" | "sys";

export const DEFAULT_LOG_MAX_BYTES = 64 * 1024 * 1024;
const FLUSH_AT_BYTES = 64 * 1024;
// Logs are porpoise's (the API serves them), never a task user's: see modes/task-isolation.ts.
const LOG_MODE = 0o600;

/** The conventional place of an attempt's log under the log root (`<dataDir>/logs`). */
export function taskLogPath(logRoot: string, workflowInstanceId: number | string, taskInstanceId: number | string, attempt: number): string {
  return join(logRoot, String(workflowInstanceId), `${taskInstanceId}-${attempt}.log`);
}

export interface TaskLogWriter {
  readonly path: string;
  /** Appends one line (a trailing newline in `line` is not needed; inner newlines are kept as separate lines). */
  write(stream: LogStream, line: string): void;
  /** Bytes in the file once pending writes are flushed. */
  readonly bytes: number;
  /** True once the cap was reached and the truncation line written. */
  readonly truncated: boolean;
  flush(): void;
  /** Flushes and closes; later writes are ignored. */
  close(): void;
  /**
   * The first write that failed (a full disk, a data dir gone read-only), as a reason for people;
   * null while every write landed. After a failure later lines are dropped: nothing is thrown,
   * the caller turns it into the attempt's result.
   */
  readonly failure: string | null;
}

/** "no space left on device" and friends: what an fs error means, for a result message or /readyz. */
export function fsErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "read-only file system";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

export interface TaskLogOptions {
  maxBytes?: number;
  /** Clock for the line timestamps (tests). */
  now?: () => Date;
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

// A new attempt's log is a new file in an existing directory, so the common case is one
// exclusive create (size 0, no fstat); only the first attempt of an instance makes the
// directory, and only a continued log needs its size. The plain way (mkdir -p, open, fstat)
// took 3-4 syscalls that cost ~1 ms of the event loop per shell task on the shared box
// (cpu-prof of `porpoise all`, 1,000 shell tasks: mkdirSync+openSync 18% of the main thread).
function openForAppend(path: string): { fd: number; size: number } {
  try {
    return { fd: openSync(path, "ax", LOG_MODE), size: 0 };
  } catch (err) {
    if (isCode(err, "ENOENT")) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      return openForAppend(path);
    }
    if (!isCode(err, "EEXIST")) throw err;
  }
  const fd = openSync(path, "a");
  return { fd, size: fstatSync(fd).size };
}

// The same on the thread pool (callback fs: a raw fd, no FileHandle to be closed by GC). With
// shell processes started from helper threads the sync open/mkdir became the event loop's top
// cost: 1.1 ms per shell task, 33% of the main thread (cpu-prof, 1,000 shell tasks).
const call = <T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));

async function openForAppendAsync(path: string): Promise<{ fd: number; size: number }> {
  try {
    return { fd: await call<number>((cb) => open(path, "ax", LOG_MODE, cb)), size: 0 };
  } catch (err) {
    if (isCode(err, "ENOENT")) {
      await call((cb) => mkdir(dirname(path), { recursive: true, mode: 0o700 }, cb));
      return openForAppendAsync(path);
    }
    if (!isCode(err, "EEXIST")) throw err;
  }
  const fd = await call<number>((cb) => open(path, "a", cb));
  try {
    return { fd, size: (await call<{ size: number }>((cb) => fstat(fd, cb))).size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Opens (creating directories) an attempt's log for appending; an existing file is continued, not replaced. */
export function openTaskLog(path: string, opts: TaskLogOptions = {}): TaskLogWriter {
  return writerOn(path, openForAppend(path), opts);
}

/** openTaskLog off the event loop. */
export async function openTaskLogAsync(path: string, opts: TaskLogOptions = {}): Promise<TaskLogWriter> {
  return writerOn(path, await openForAppendAsync(path), opts);
}

function writerOn(path: string, { fd, size }: { fd: number; size: number }, opts: TaskLogOptions): TaskLogWriter {
  const maxBytes = opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
  const now = opts.now ?? (() => new Date());
  let bytes = size;
  let pending: string[] = [];
  let pendingBytes = 0;
  let scheduled: ReturnType<typeof setTimeout> | null = null;
  let truncated = false;
  let closed = false;
  let failure: string | null = null;

  // Runs on a timer too: a write error must never escape (an uncaught ENOSPC, once per flush,
  // was all a full disk produced, while the attempt stayed RUNNING).
  function flush(): void {
    if (scheduled) clearTimeout(scheduled);
    scheduled = null;
    if (pending.length === 0) return;
    const text = pending.join("");
    pending = [];
    pendingBytes = 0;
    if (failure !== null) return;
    try {
      writeSync(fd, text);
    } catch (err) {
      failure = `${fsErrorReason(err)} writing the task log ${path}`;
    }
  }

  function append(text: string, size: number): void {
    pending.push(text);
    pendingBytes += size;
    bytes += size;
    if (pendingBytes >= FLUSH_AT_BYTES) flush();
    else scheduled ??= setTimeout(flush, 0);
  }

  function write(stream: LogStream, line: string): void {
    if (closed || truncated) return;
    const parts = line.includes("\n") ? line.split("\n") : [line];
    for (const part of parts) {
      const text = `${now().toISOString()} [${stream}] ${part}\n`;
      const size = Buffer.byteLength(text);
      if (bytes + size > maxBytes) {
        truncated = true;
        const notice = `${now().toISOString()} [sys] log truncated: this attempt's log reached its cap of ${maxBytes} bytes; later output is not kept (OUT params are still read from it)\n`;
        append(notice, Buffer.byteLength(notice));
        return;
      }
      append(text, size);
    }
  }

  return {
    path,
    write,
    get bytes() {
      return bytes;
    },
    get truncated() {
      return truncated;
    },
    flush,
    close() {
      if (closed) return;
      flush();
      closed = true;
      try {
        closeSync(fd);
      } catch (err) {
        failure ??= `${fsErrorReason(err)} closing the task log ${path}`;
      }
    },
    get failure() {
      return failure;
    },
  };
}
