// Which log the api serves for an attempt (docs/architecture.md §6): the chunks in the Store
// when the Store has any (a cluster worker shipped them: the log is served by any api node and
// outlives the worker's machine), else the local file the attempt's row names (`porpoise all`,
// whose worker does not ship). Both hold the same bytes at the same offsets — the shipper copies
// the file — so the choice is made again on every read and a follower may move from one to the
// other mid-stream without a gap or a repeat.

import type { LogChunkRepository } from "../store/log-chunks.ts";
import { readLog, waitForFileChange } from "./file-logs.ts";
import { emptyPage, parseReadOptions } from "./log-page.ts";
import { readStoreLog } from "./store-logs.ts";
import { followPages, pause, type TaskLogs } from "./task-logs.ts";

export interface AttemptLogSource {
  chunks: LogChunkRepository;
  taskInstanceId: number;
  /** The log file named by the attempt's row now (null before the attempt starts); may change. */
  path: () => string | null;
}

export function attemptLogs(source: AttemptLogSource): TaskLogs {
  const logs: TaskLogs = {
    async read(opts = {}) {
      const stored = await readStoreLog(source.chunks, source.taskInstanceId, opts);
      if (stored.exists) return stored;
      const path = source.path();
      if (path === null) return emptyPage(parseReadOptions(opts).offset);
      return readLog(path, opts);
    },
    changed(signal, pollMs) {
      const path = source.path();
      return path === null ? pause(pollMs, signal) : waitForFileChange(path, signal, pollMs);
    },
    follow: (signal, isEnded, opts) => followPages(logs, signal, isEnded, opts),
  };
  return logs;
}
