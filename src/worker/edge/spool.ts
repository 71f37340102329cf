// What an edge worker owes its gateway, on disk until the gateway took it: task events and log
// chunks, one file per item in `<data dir>/edge/spool`, sent in the order they were written by
// one sender. An item is deleted only after the gateway answered for it, so a link cut, a
// gateway restart or a kill -9 of the worker loses nothing: the rest is sent after reconnecting
// (or after the restart). Resends are safe: the gateway takes a result once per (attempt,
// dispatch token) and a log chunk once per (attempt, seq). Log chunks of an attempt go before its
// result, as the worker ships the log before it reports the end (worker.ts), so a follower that
// stops at the end has every byte.
//
// Files are written to a temporary name and renamed (no torn item after a crash); not fsynced:
// a power cut may lose the last items, a process kill does not.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { edgeAttemptRefSchema } from "../../core/edge-messages.ts";
import { taskEventSchema } from "../../core/messages.ts";

export const spoolItemSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("event"), event: taskEventSchema }),
  z.strictObject({ type: z.literal("log"), attempt: edgeAttemptRefSchema, seq: z.number().int().min(1), byteOffset: z.number().int().min(0), data: z.string() }),
]);
export type SpoolItem = z.output<typeof spoolItemSchema>;
export type SpoolInput = z.input<typeof spoolItemSchema>;

export interface Spooled {
  name: string;
  item: SpoolItem;
}

export class Spool {
  private readonly queue: Spooled[] = [];
  private seq = 0;
  private wake: (() => void) | null = null;
  /** Items that could not be read back after a restart (corrupt files), set aside. */
  unreadable = 0;
  /** Items waiting, by type (the edge worker's /metrics: porpoise_edge_spool_items). */
  readonly waiting = { event: 0, log: 0 };

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const names = readdirSync(dir).filter((n) => /^\d{16}\.json$/.test(n)).sort();
    for (const name of names) {
      this.seq = Math.max(this.seq, Number(name.slice(0, 16)));
      const parsed = (() => {
        try {
          return spoolItemSchema.safeParse(JSON.parse(readFileSync(join(dir, name), "utf8")));
        } catch {
          return null;
        }
      })();
      if (parsed?.success) {
        this.queue.push({ name, item: parsed.data });
        this.waiting[parsed.data.type]++;
      } else {
        this.unreadable++;
        renameSync(join(dir, name), join(dir, `${name}.unreadable`));
      }
    }
    for (const n of readdirSync(dir)) if (n.endsWith(".tmp")) rmSync(join(dir, n), { force: true });
  }

  get size(): number {
    return this.queue.length;
  }

  add(item: SpoolInput): void {
    // Checked before it is written: a malformed item would otherwise sit on disk until a restart set it aside.
    const parsed = spoolItemSchema.parse(item);
    const name = `${String(++this.seq).padStart(16, "0")}.json`;
    const path = join(this.dir, name);
    writeFileSync(`${path}.tmp`, JSON.stringify(item), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    this.queue.push({ name, item: parsed });
    this.waiting[parsed.type]++;
    this.wake?.();
  }

  /** The oldest items that go in one call: consecutive events (≤ 100), or log chunks of one attempt (≤ 4). */
  head(): Spooled[] {
    const first = this.queue[0];
    if (!first) return [];
    const batch = [first];
    for (const next of this.queue.slice(1, 100)) {
      if (next.item.type !== first.item.type) break;
      if (next.item.type === "log" && first.item.type === "log") {
        if (batch.length >= 4 || next.item.attempt.taskInstanceId !== first.item.attempt.taskInstanceId) break;
      }
      batch.push(next);
    }
    return batch;
  }

  /** Removes the first `n` items (the gateway took them, or refused them for good). */
  done(n: number): void {
    for (const s of this.queue.splice(0, n)) {
      rmSync(join(this.dir, s.name), { force: true });
      this.waiting[s.item.type]--;
    }
  }

  /** Resolves when an item is added (or at once when some wait). */
  waitForItems(signal: AbortSignal): Promise<void> {
    if (this.queue.length > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.wake = null;
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
