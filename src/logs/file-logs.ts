// An attempt's log in a local file (src/worker/task-log.ts writes it): what `porpoise all` and a
// worker on this machine serve (docs/architecture.md §6). readLog/followLog keep the
// synchronous file API the worker and its tests use; fileTaskLogs is the same as a TaskLogs.

import { closeSync, fstatSync, openSync, readSync, watch } from "node:fs";
import { emptyPage, type LogPage, pageOf, parseReadOptions, type ReadLogOptions } from "./log-page.ts";
import { type FollowOptions, followPages, type TaskLogs } from "./task-logs.ts";

/** One page of the log file at `path`; throws ValidationError for a bad offset or limit. */
export function readLog(path: string, opts: ReadLogOptions = {}): LogPage {
  const { offset, limit } = parseReadOptions(opts);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyPage(offset);
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const want = Math.min(limit, size - offset);
    if (want <= 0) return { text: "", offset, nextOffset: offset, size, exists: true };
    const buf = Buffer.allocUnsafe(want);
    const got = readSync(fd, buf, 0, want, offset);
    return pageOf(buf.subarray(0, got), offset, limit, size, opts.partial);
  } finally {
    closeSync(fd);
  }
}

/** Resolves on a change to the file, after `pollMs`, or on abort, whichever is first. */
export function waitForFileChange(path: string, signal: AbortSignal, pollMs: number): Promise<void> {
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | null = null;
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      watcher?.close();
      resolve();
    };
    // The timer covers what fs.watch cannot: a file not created yet, and the attempt ending.
    const timer = setTimeout(done, pollMs);
    signal.addEventListener("abort", done, { once: true });
    try {
      watcher = watch(path, { persistent: false }, done);
      watcher.on("error", () => {});
    } catch {
      watcher = null;
    }
  });
}

export function fileTaskLogs(path: string): TaskLogs {
  const logs: TaskLogs = {
    read: async (opts) => readLog(path, opts),
    changed: (signal, pollMs) => waitForFileChange(path, signal, pollMs),
    follow: (signal, isEnded, opts) => followPages(logs, signal, isEnded, opts),
  };
  return logs;
}

/**
 * New content of the log file as it is appended, from `offset`, until the attempt has ended
 * (then the rest, an unfinished last line included) or `signal` aborts. Works on the file
 * alone, so it follows logs of attempts from before a restart too.
 */
export function followLog(path: string, signal: AbortSignal, isEnded: () => boolean | Promise<boolean>, opts: FollowOptions = {}): AsyncGenerator<LogPage> {
  return fileTaskLogs(path).follow(signal, isEnded, opts);
}
