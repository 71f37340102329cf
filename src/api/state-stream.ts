// Live state for the web UI as Server-Sent Events (routes/events.ts): what a page shows —
// one instance and its attempts, or a project's recent instances — sent once in full, then
// each item again whenever its version changes.
//
// The api learns of changes by reading the Store, once per `pollMs` per open stream (not the
// browser: one request per page, not one per second). No port tells an api node of state
// changes today: in a cluster they happen in masters, which talk to the api only through the
// Store and the Cache (docs/architecture.md §2). A read is one indexed query for an instance's
// attempts or one page of a project's instances; with a handful of pages open that is a few
// reads a second. An item that disappears from the read (a page that moved on) is not sent.
//
//   event: <kind>          one of the kinds the caller emits (instance, task, …)
//   data: <JSON>           the item as the matching REST route shows it
//   event: ready           after the first full set: the page may stop showing "loading"
//   event: error           {code, message}, then the stream ends: the caller may no longer see it
// plus a `: keep-alive` comment every `heartbeatMs`.

import type { Logger } from "../core/log.ts";
import { PorpoiseError } from "../core/errors.ts";
import { sseResponse } from "./sse-response.ts";

export interface StateItem {
  kind: string;
  /** Unique across kinds within one stream. */
  key: string;
  /** Changes whenever the item does (e.g. updatedAt + state). */
  version: string;
  data: unknown;
}

export interface StateStreamOptions {
  read: () => Promise<StateItem[]>;
  /**
   * Asked every `recheckEvery` reads: may the caller still see this? An error (token revoked,
   * user disabled, membership taken away) is sent as an `error` event and ends the stream.
   */
  recheck?: () => Promise<PorpoiseError | null>;
  recheckEvery?: number;
  signal: AbortSignal;
  log: Logger;
  pollMs?: number;
  heartbeatMs?: number;
}

export function stateEvent(kind: string, data: unknown): string {
  return `event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function stateEventStream(opts: StateStreamOptions): Response {
  const pollMs = opts.pollMs ?? 500;
  const seen = new Map<string, string>();
  return sseResponse({ signal: opts.signal, ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}) }, async (send, signal) => {
    let first = true;
    let reads = 0;
    try {
      while (!signal.aborted) {
        if (opts.recheck && ++reads % (opts.recheckEvery ?? 4) === 0) {
          const denied = await opts.recheck();
          if (denied) {
            send(stateEvent("error", { code: denied.code, message: denied.message }));
            return;
          }
        }
        const items = await opts.read();
        let out = "";
        for (const item of items) {
          if (seen.get(item.key) === item.version) continue;
          seen.set(item.key, item.version);
          out += stateEvent(item.kind, item.data);
        }
        if (first) out += stateEvent("ready", { items: items.length });
        first = false;
        if (out) send(out);
        await sleep(pollMs, signal);
      }
    } catch (err) {
      if (!signal.aborted) {
        opts.log.warn("state stream failed", { err });
        const error = err instanceof PorpoiseError ? { code: err.code, message: err.message } : { code: "INTERNAL", message: "internal error: the server log has the cause" };
        send(stateEvent("error", error));
      }
    }
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
