// The frame every Server-Sent Events route of the api shares (log-stream.ts: a task's log;
// state-stream.ts: live state for the web UI): the response headers, a `: keep-alive` comment
// every `heartbeatMs` so proxies do not close a quiet stream, the stream closed once the pump
// returns, and the pump's signal aborted when the client goes away (or the request's signal is).
// What is sent, and how a failure is told to the client, is the pump's.

const encoder = new TextEncoder();

export type SseSend = (text: string) => void;

export interface SseOptions {
  /** The request's signal. */
  signal: AbortSignal;
  heartbeatMs?: number;
}

/** `pump` must not throw: it sends its own error event (a throw is logged by nobody and ends the stream). */
export function sseResponse(opts: SseOptions, pump: (send: SseSend, signal: AbortSignal) => Promise<void>): Response {
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  let heartbeat: ReturnType<typeof setInterval> | null = null;

  async function run(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const send: SseSend = (text) => {
      if (!signal.aborted) controller.enqueue(encoder.encode(text));
    };
    try {
      await pump(send, signal);
    } catch {
      // The pump's own failure handling failed (the client went away meanwhile): nothing to tell.
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      try {
        controller.close();
      } catch {
        // Already closed by a client that went away.
      }
    }
  }

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      heartbeat = setInterval(() => {
        if (!signal.aborted) controller.enqueue(encoder.encode(": keep-alive\n\n"));
      }, opts.heartbeatMs ?? 15_000);
      void run(controller);
    },
    cancel() {
      stop.abort();
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" },
  });
}
