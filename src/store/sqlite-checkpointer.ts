// SQLite's WAL checkpoints on a helper thread instead of inside a commit.
//
// Why: with SQLite's default wal_autocheckpoint (1,000 pages), the commit that grows the WAL past
// it copies the whole WAL into the database file and fsyncs it before it returns, on the event
// loop. Measured (scripts/bench/cron-fire.ts full sqlite, 10,000 schedules, ~167 fires each
// second, 2 shared cores): the fire batch's COMMIT took 1-2 ms, and 8-11 ms every few seconds —
// those commits were the checkpoints, and they were the whole p99 of the cron lateness (and a
// stall of every other write and read of the store, which shares the one connection).
//
// So once the WAL file has grown past START_AT_BYTES (a node doing real work; an idle `all`
// writes ~0.4 MB at start and never starts the thread, which costs ~3 MB of RSS), a thread with
// a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every INTERVAL_MS: it copies
// what it can without taking the write lock or waiting for anyone, so the main connection's
// commits go on meanwhile, and the writer restarts the WAL from its beginning when it finds it
// fully copied. The main connection's own threshold goes up to SAFETY_PAGES, so it checkpoints
// only if the thread falls that far behind; if the thread fails, the threshold goes back to
// SQLite's default and the commits checkpoint as before (logged once).
//
// The thread's code is inline (a Blob URL), as in worker/process-threads.ts, so it works from
// source and inside the compiled executable alike.

import { statSync } from "node:fs";
import type { Database } from "bun:sqlite";
import type { Logger } from "../core/log.ts";

const START_AT_BYTES = 1024 * 1024;
const INTERVAL_MS = 200;
const WATCH_MS = 1000;
const SAFETY_PAGES = 10_000;
const DEFAULT_PAGES = 1000;

const THREAD_SOURCE = `
import { Database } from "bun:sqlite";
let db = null;
let timer = null;
let failures = 0;
self.onmessage = ({ data }) => {
  if (data.stop) {
    if (timer) clearInterval(timer);
    try { db?.close(); } catch {}
    db = null;
    postMessage({ t: "stopped" });
    return;
  }
  try {
    db = new Database(data.path, { readwrite: true, create: false });
    // A checkpoint copies WAL frames into the file; it needs no page cache of its own.
    db.exec("PRAGMA cache_size = -64");
  } catch (err) {
    postMessage({ t: "failed", message: String(err && err.message || err) });
    return;
  }
  timer = setInterval(() => {
    try {
      // exec, not query: a cached statement would keep the connection open past close().
      db.exec("PRAGMA wal_checkpoint(PASSIVE)");
      failures = 0;
    } catch (err) {
      // A full disk, an I/O error: said once per run of failures, tried again next time.
      if (failures++ === 0) postMessage({ t: "error", message: String(err && err.message || err) });
    }
  }, data.intervalMs);
  postMessage({ t: "started" });
};
`;

let threadUrl: string | null = null;

export interface CheckpointerOptions {
  /** The WAL file size at which the thread starts (bytes); START_AT_BYTES by default. */
  startAtBytes?: number;
}

export class SqliteCheckpointer {
  private thread: Worker | null = null;
  private readonly watch: ReturnType<typeof setInterval>;
  private readonly startAt: number;
  private stopped = false;

  constructor(
    private readonly client: Database,
    private readonly path: string,
    private readonly log: Logger,
    opts: CheckpointerOptions = {},
  ) {
    this.startAt = opts.startAtBytes ?? START_AT_BYTES;
    if (!(this.startAt >= 0)) throw new RangeError(`SqliteCheckpointer: startAtBytes must be 0 or more, got ${opts.startAtBytes}`);
    this.watch = setInterval(() => this.check(), WATCH_MS);
    this.watch.unref();
  }

  /** Whether the thread runs (for tests and the log). */
  get running(): boolean {
    return this.thread !== null;
  }

  private check(): void {
    if (this.thread || this.stopped) return;
    const size = statSync(`${this.path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    if (size >= this.startAt) this.start();
  }

  private start(): void {
    clearInterval(this.watch);
    threadUrl ??= URL.createObjectURL(new Blob([THREAD_SOURCE], { type: "application/javascript" }));
    // smol: the thread's own heap stays small (it runs one PRAGMA on a timer).
    const thread = new Worker(threadUrl, { smol: true });
    thread.unref();
    this.thread = thread;
    thread.onmessage = (e: MessageEvent<{ t: string; message?: string }>) => {
      const msg = e.data;
      if (msg.t === "started" && !this.stopped) this.client.exec(`PRAGMA wal_autocheckpoint = ${SAFETY_PAGES}`);
      else if (msg.t === "failed") this.fail(msg.message ?? "unknown error");
      else if (msg.t === "error") this.log.warn(`store: the SQLite checkpoint thread could not checkpoint the WAL (${msg.message}); it tries again every ${INTERVAL_MS} ms, and commits checkpoint themselves past ${SAFETY_PAGES} pages`);
    };
    thread.onerror = (e) => this.fail(e.message);
    thread.postMessage({ path: this.path, intervalMs: INTERVAL_MS });
  }

  private fail(message: string): void {
    this.thread?.terminate();
    this.thread = null;
    if (this.stopped) return;
    // Commits checkpoint themselves again, as SQLite does by default; the watch does not restart the thread.
    this.client.exec(`PRAGMA wal_autocheckpoint = ${DEFAULT_PAGES}`);
    this.log.warn(`store: the SQLite checkpoint thread stopped (${message}); commits checkpoint the WAL themselves again`);
  }

  /** Ends the thread and closes its connection, so the main connection's close is the last one (it checkpoints and removes the WAL). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watch);
    const thread = this.thread;
    this.thread = null;
    if (!thread) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      thread.onmessage = (e: MessageEvent<{ t: string }>) => {
        if (e.data.t !== "stopped") return;
        clearTimeout(timer);
        resolve();
      };
      thread.postMessage({ stop: true });
    });
    thread.terminate();
  }
}
