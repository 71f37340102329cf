// Ships an attempt's log file into the Store (src/store/log-chunks.ts), so any api node serves
// the log and its live follow, and the log survives the loss of this machine (docs/architecture.md
// §6; DolphinScheduler loses it, its issue #3298). Only cluster workers ship; `porpoise all`
// serves its local files.
//
// The shipper copies the file's bytes as they are: chunk k holds the bytes from byteOffset on,
// at most 256 KiB, seq k; the file is capped by task-log.ts, so the chunks are too. Every 200 ms
// it sends what the file gained, up to 1 MiB (four chunks) per transaction. A failed append is
// retried with the same chunks while the Store is away (store/retry.ts): append is idempotent by
// (attempt, seq), so a retry after a lost answer stores nothing twice. A shipper started again
// for the same attempt (after a worker restart adopted it) continues from what the Store holds.
//
// The caller closes the log writer, then awaits finish(), and only then reports the attempt's
// result: a follower ends when the attempt has ended, so the last bytes must be in the Store by then.

import { type FileHandle, open } from "node:fs/promises";
import type { Logger } from "../core/log.ts";
import { type LogChunk, type LogChunkRepository, MAX_LOG_CHUNK_BYTES } from "../store/log-chunks.ts";
import { retryStore, RetryAborted } from "../store/retry.ts";

export const SHIP_INTERVAL_MS = 200;
const CHUNKS_PER_APPEND = 4;

/** STARTING → SHIPPING → FINISHING → FINISHED; FAILED (a non-transient error) or ABORTED (signal) from any but FINISHED. */
export type ShipperState = "STARTING" | "SHIPPING" | "FINISHING" | "FINISHED" | "FAILED" | "ABORTED";

export interface LogShippingOptions {
  store: { logChunks: Pick<LogChunkRepository, "append" | "position"> };
  taskInstanceId: number;
  /** The attempt's log file (task-log.ts); it may not exist yet. */
  path: string;
  log: Logger;
  intervalMs?: number;
  /** Shutdown: stop waiting for an absent Store; finish() then resolves with complete false. */
  signal?: AbortSignal;
}

export interface ShippingResult {
  /** Bytes of the log in the Store (from offset 0). */
  shippedBytes: number;
  /** True when the whole file reached the Store. */
  complete: boolean;
}

export interface LogShipper {
  readonly state: ShipperState;
  readonly shippedBytes: number;
  /** Ships the rest of the file and stops; call after the log writer is closed. Never rejects. */
  finish(): Promise<ShippingResult>;
}

const allowed: Record<ShipperState, ShipperState[]> = {
  STARTING: ["SHIPPING", "FINISHING", "FAILED", "ABORTED"],
  SHIPPING: ["FINISHING", "FAILED", "ABORTED"],
  FINISHING: ["FINISHED", "FAILED", "ABORTED"],
  FINISHED: [],
  FAILED: [],
  ABORTED: [],
};

export function startLogShipping(opts: LogShippingOptions): LogShipper {
  const { store, taskInstanceId, path, log } = opts;
  const intervalMs = opts.intervalMs ?? SHIP_INTERVAL_MS;
  let state: ShipperState = "STARTING";
  let offset = 0;
  let seq = 1;
  let file: FileHandle | null = null;
  let finishRequested = false;
  let wake: (() => void) | null = null;
  const retry = { log, signal: opts.signal };

  function moveTo(next: ShipperState): void {
    if (!allowed[state].includes(next)) throw new Error(`log shipper of task instance ${taskInstanceId}: ${state} → ${next} is not a transition`);
    state = next;
  }

  /** Up to `max` bytes of the file from `offset`; empty when there is nothing new (or no file yet). */
  async function readNew(max: number): Promise<Buffer> {
    if (!file) {
      try {
        file = await open(path, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return Buffer.alloc(0);
        throw err;
      }
    }
    const buf = Buffer.allocUnsafe(max);
    const { bytesRead } = await file.read(buf, 0, max, offset);
    return buf.subarray(0, bytesRead);
  }

  /** Ships everything the file holds beyond `offset`. */
  async function shipAvailable(): Promise<void> {
    const batchBytes = MAX_LOG_CHUNK_BYTES * CHUNKS_PER_APPEND;
    for (;;) {
      const bytes = await readNew(batchBytes);
      if (bytes.byteLength === 0) return;
      const chunks: LogChunk[] = [];
      for (let at = 0; at < bytes.byteLength; at += MAX_LOG_CHUNK_BYTES) {
        chunks.push({ taskInstanceId, seq: seq + chunks.length, byteOffset: offset + at, data: bytes.subarray(at, at + MAX_LOG_CHUNK_BYTES) });
      }
      await retryStore(`shipping the log of task instance ${taskInstanceId}`, () => store.logChunks.append(chunks), retry);
      seq += chunks.length;
      offset += bytes.byteLength;
      if (bytes.byteLength < batchBytes) return;
    }
  }

  function pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, intervalMs);
      opts.signal?.addEventListener("abort", done, { once: true });
      wake = done;
      function done() {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", done);
        wake = null;
        resolve();
      }
    });
  }

  const finished: Promise<ShippingResult> = (async () => {
    try {
      const at = await retryStore(`reading where the log of task instance ${taskInstanceId} continues`, () => store.logChunks.position(taskInstanceId), retry);
      offset = at.size;
      seq = at.nextSeq;
      if (!finishRequested) moveTo("SHIPPING");
      while (!finishRequested) {
        await shipAvailable();
        if (opts.signal?.aborted) throw new RetryAborted(`shipping the log of task instance ${taskInstanceId}`, opts.signal.reason);
        if (!finishRequested) await pause();
      }
      // The writer is closed: this pass reads the file to its end.
      await shipAvailable();
      moveTo("FINISHED");
      return { shippedBytes: offset, complete: true };
    } catch (err) {
      if (err instanceof RetryAborted) {
        moveTo("ABORTED");
        log.warn("log shipping stopped by shutdown before the whole log reached the Store", { taskInstanceId, shippedBytes: offset });
      } else {
        moveTo("FAILED");
        log.error("log shipping failed; the rest of this attempt's log stays on this machine only", { taskInstanceId, shippedBytes: offset, err });
      }
      return { shippedBytes: offset, complete: false };
    } finally {
      await (file as FileHandle | null)?.close().catch(() => {});
    }
  })();

  return {
    get state() {
      return state;
    },
    get shippedBytes() {
      return offset;
    },
    finish() {
      if (!finishRequested) {
        finishRequested = true;
        if (state === "STARTING" || state === "SHIPPING") moveTo("FINISHING");
        wake?.();
      }
      return finished;
    },
  };
}
