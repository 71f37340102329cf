// `GET /task-instances/:id/log?follow=1`: an attempt's log as Server-Sent Events, from an
// offset until the attempt ends. Each event carries the lines appended since the last one,
// one `data:` field per line, and `id:` = the byte offset after them, so an EventSource
// that reconnects (sending Last-Event-ID) continues where it stopped. The stream ends with
//
//   event: end
//   data: {"nextOffset":1234,"ended":true}
//
// (or `"ended":false` with an `error` when the server had to give up). A comment line is
// sent every `heartbeatMs` so proxies do not close a quiet stream. The log comes through the
// TaskLogs port (src/logs/): a local file or the chunks in the Store (docs/architecture.md §6).

import type { Logger } from "../core/log.ts";
import { PorpoiseError } from "../core/errors.ts";
import type { TaskLogs } from "../logs/task-logs.ts";
import { sseResponse } from "./sse-response.ts";

export interface LogStreamOptions {
  logs: TaskLogs;
  /** Reads the attempt again: true once it has ended (then the rest is sent and the stream ends). */
  isEnded: () => Promise<boolean>;
  taskInstanceId: number;
  offset: number;
  /** The request's signal: a client that goes away stops the follower. */
  signal: AbortSignal;
  log: Logger;
  /** How often the attempt's end (and a log not there yet) is checked. */
  pollMs?: number;
  heartbeatMs?: number;
}

/** One SSE event for a chunk of log text. SSE cannot carry a bare CR inside a field; it is dropped. */
export function logEvent(text: string, nextOffset: number): string {
  const lines = text.replace(/\r/g, "").split("\n");
  if (lines.length > 1 && lines.at(-1) === "") lines.pop();
  return `id: ${nextOffset}\n${lines.map((line) => `data: ${line}\n`).join("")}\n`;
}

function endEvent(body: Record<string, unknown>): string {
  return `event: end\ndata: ${JSON.stringify(body)}\n\n`;
}

export function logEventStream(opts: LogStreamOptions): Response {
  const { logs, isEnded, taskInstanceId: id, log } = opts;
  const pollMs = opts.pollMs ?? 250;
  return sseResponse({ signal: opts.signal, ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}) }, async (send, signal) => {
    let offset = opts.offset;
    try {
      // An attempt that has not started has no log yet: the follow reads nothing until one
      // appears, or ends when the attempt ends without one.
      for await (const page of logs.follow(signal, isEnded, { offset, pollMs })) {
        send(logEvent(page.text, page.nextOffset));
        offset = page.nextOffset;
      }
      send(endEvent({ nextOffset: offset, ended: !signal.aborted }));
    } catch (err) {
      log.warn("log follow failed", { taskInstanceId: id, err });
      const error = err instanceof PorpoiseError ? { code: err.code, message: err.message } : { code: "INTERNAL", message: "internal error: the server log has the cause" };
      send(endEvent({ nextOffset: offset, ended: false, error }));
    }
  });
}
