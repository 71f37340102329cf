// An attempt's log from the chunks a cluster worker shipped into the Store
// (src/store/log-chunks.ts, src/worker/log-shipper.ts): any api node serves it, also after the
// worker's machine is gone (docs/architecture.md §6). Following polls the Store: the shipper
// sends a batch every 200 ms, so a 250 ms poll adds at most one poll's wait to what a reader
// sees, for one indexed aggregate per follower per poll.

import type { LogChunkRepository } from "../store/log-chunks.ts";
import { emptyPage, type LogPage, pageOf, parseReadOptions, type ReadLogOptions } from "./log-page.ts";
import { followPages, pause, type TaskLogs } from "./task-logs.ts";

/** One page from the Store; `exists` is false while the Store holds no byte of the log. */
export async function readStoreLog(chunks: LogChunkRepository, taskInstanceId: number, opts: ReadLogOptions = {}): Promise<LogPage> {
  const { offset, limit } = parseReadOptions(opts);
  const { data, size } = await chunks.read(taskInstanceId, offset, limit);
  if (size === 0) return emptyPage(offset);
  return pageOf(data, offset, limit, size, opts.partial);
}

export function storeTaskLogs(chunks: LogChunkRepository, taskInstanceId: number): TaskLogs {
  const logs: TaskLogs = {
    read: (opts) => readStoreLog(chunks, taskInstanceId, opts),
    changed: (signal, pollMs) => pause(pollMs, signal),
    follow: (signal, isEnded, opts) => followPages(logs, signal, isEnded, opts),
  };
  return logs;
}
