// The TaskLogs port: an attempt's log, read by page or followed, wherever it is kept
// (docs/architecture.md §2, §6). Two implementations: a local file (file-logs.ts: `porpoise
// all`, and a worker's own machine) and chunks a cluster worker shipped into the Store
// (store-logs.ts: any api node). attempt-logs.ts picks one per read. The api depends only on
// this folder, never on the worker.

import type { LogPage, ReadLogOptions } from "./log-page.ts";
import { MAX_READ_LIMIT } from "./log-page.ts";

export interface FollowOptions {
  offset?: number;
  /** How often to re-check `isEnded` (and the log, where no change notification exists). */
  pollMs?: number;
  /** Bytes per yielded chunk at most. */
  limit?: number;
}

export interface TaskLogs {
  /** One page from a byte offset; throws ValidationError for a bad offset or limit. */
  read(opts?: ReadLogOptions): Promise<LogPage>;
  /** Resolves when the log may have grown, after `pollMs` at the latest, or on abort. */
  changed(signal: AbortSignal, pollMs: number): Promise<void>;
  /**
   * New content as it is appended, from `offset`, until the attempt has ended (then the rest,
   * an unfinished last line included, and the iterator returns) or `signal` aborts.
   */
  follow(signal: AbortSignal, isEnded: () => boolean | Promise<boolean>, opts?: FollowOptions): AsyncGenerator<LogPage>;
}

/** The follow loop both implementations share: read while there is more, else wait for a change. */
export async function* followPages(
  logs: Pick<TaskLogs, "read" | "changed">,
  signal: AbortSignal,
  isEnded: () => boolean | Promise<boolean>,
  opts: FollowOptions = {},
): AsyncGenerator<LogPage> {
  const pollMs = opts.pollMs ?? 250;
  const limit = opts.limit ?? MAX_READ_LIMIT;
  let offset = opts.offset ?? 0;
  while (!signal.aborted) {
    const page = await logs.read({ offset, limit });
    if (page.text !== "") {
      offset = page.nextOffset;
      yield page;
      continue;
    }
    // Checked after an empty read: whatever was written before the end is read below.
    if (await isEnded()) {
      for (;;) {
        const rest = await logs.read({ offset, limit, partial: true });
        if (rest.text === "") return;
        offset = rest.nextOffset;
        yield rest;
      }
    }
    await logs.changed(signal, pollMs);
  }
}

/** Resolves after `ms` or on abort. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
