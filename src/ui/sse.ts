// Server-Sent Events over fetch: EventSource cannot send the Authorization header, and tokens do
// not belong in URLs (they end up in logs). Reconnects after a drop, sending Last-Event-ID.

import { authHeaders, session, setSession } from "./api.ts";

export interface SseEvent { event: string; data: string; id: string | null }

export interface StreamOptions {
  signal: AbortSignal;
  onEvent: (e: SseEvent) => void;
  /** false: do not reconnect when the server ends the stream (a log that ended). */
  reconnect?: boolean;
  onStatus?: (live: boolean) => void;
}

export function openStream(path: string, opts: StreamOptions): void {
  let lastId: string | null = null;
  let delay = 500;
  const run = async (): Promise<void> => {
    while (!opts.signal.aborted) {
      let ended = false;
      try {
        const headers: Record<string, string> = { ...authHeaders(), accept: "text/event-stream" };
        if (lastId !== null) headers["last-event-id"] = lastId;
        const res = await fetch(`/api/v1${path}`, { headers, signal: opts.signal });
        if (res.status === 401 && session.token) setSession(null, null);
        if (res.status === 401 || res.status === 403 || res.status === 404) {
          opts.onEvent({ event: "error", data: await res.text(), id: null });
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        opts.onStatus?.(true);
        delay = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut: number;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const e = parseBlock(block);
            if (!e) continue;
            if (e.id !== null) lastId = e.id;
            // `end`: a log that ended; `error`: the server stopped the stream (access gone).
            if (e.event === "end" || e.event === "error") ended = true;
            opts.onEvent(e);
          }
        }
      } catch {
        if (opts.signal.aborted) return;
      }
      opts.onStatus?.(false);
      if (ended || opts.reconnect === false) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  };
  void run();
}

function parseBlock(block: string): SseEvent | null {
  let event = "message";
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (data.length === 0 && event === "message") return null;
  return { event, data: data.join("\n"), id };
}
