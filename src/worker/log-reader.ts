// Reading an attempt's log (task-log.ts writes it). Offsets are BYTE offsets into the file:
// O(1) to seek, stable while the file grows, and what `?offset=&limit=` of the API carries.
// A page ends on a line boundary, so a line is never split across pages (and UTF-8 never
// cut), except a single line longer than `limit`, which comes in `limit`-sized pieces.

import { closeSync, fstatSync, openSync, readSync, watch } from "node:fs";
import { z } from "zod";
import { invalidInput, zodIssuesToDetails } from "../core/zod-details.ts";

export const MAX_READ_LIMIT = 1024 * 1024;
export const DEFAULT_READ_LIMIT = 64 * 1024;

export const readLogOptionsSchema = z.strictObject({
  offset: z.coerce.number().int().min(0, { error: "offset is a byte offset: an integer ≥ 0" }).default(0),
  limit: z.coerce
    .number()
    .int()
    .min(1, { error: `limit is a number of bytes between 1 and ${MAX_READ_LIMIT}` })
    .max(MAX_READ_LIMIT, { error: `limit is a number of bytes between 1 and ${MAX_READ_LIMIT}` })
    .default(DEFAULT_READ_LIMIT),
});
export type ReadLogOptions = z.input<typeof readLogOptionsSchema> & {
  /** Also return a last line that has no newline yet (used once the attempt has ended). */
  partial?: boolean;
};

export interface LogPage {
  /** Complete lines, each ending with "\n" (see `partial`). */
  text: string;
  offset: number;
  /** Where the next read starts; equal to `offset` when there was nothing new. */
  nextOffset: number;
  /** File size at the time of the read. */
  size: number;
  /** False when the file does not exist (yet): an attempt that has not started writing. */
  exists: boolean;
}

const NEWLINE = 0x0a;

// Where to cut `buf[0, end)` so the last UTF-8 character is whole: before an incomplete one.
function utf8Boundary(buf: Buffer, end: number): number {
  let lead = end - 1;
  while (lead > 0 && end - lead < 4 && (buf[lead]! & 0xc0) === 0x80) lead--;
  const byte = buf[lead]!;
  const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return lead + length > end && lead > 0 ? lead : end;
}

/** One page of an attempt's log; throws ValidationError for a bad offset or limit. */
export function readLog(path: string, opts: ReadLogOptions = {}): LogPage {
  const parsed = readLogOptionsSchema.safeParse({ offset: opts.offset, limit: opts.limit });
  if (!parsed.success) throw invalidInput("log read options", zodIssuesToDetails(parsed.error), parsed.error);
  const { offset, limit } = parsed.data;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { text: "", offset, nextOffset: offset, size: 0, exists: false };
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const want = Math.min(limit, size - offset);
    if (want <= 0) return { text: "", offset, nextOffset: offset, size, exists: true };
    const buf = Buffer.allocUnsafe(want);
    const got = readSync(fd, buf, 0, want, offset);
    let end = buf.lastIndexOf(NEWLINE, got - 1) + 1;
    if (end === 0) {
      // No newline in the window: a line longer than the limit, or an unfinished last line.
      if (got === limit) end = utf8Boundary(buf, got);
      else if (opts.partial) end = got;
      else return { text: "", offset, nextOffset: offset, size, exists: true };
    } else if (opts.partial && got < limit) end = got;
    return { text: buf.toString("utf8", 0, end), offset, nextOffset: offset + end, size, exists: true };
  } finally {
    closeSync(fd);
  }
}

/** Resolves on a change to the file, after `pollMs`, or on abort, whichever is first. */
function waitForChange(path: string, signal: AbortSignal, pollMs: number): Promise<void> {
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | null = null;
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      watcher?.close();
      resolve();
    };
    // The timer covers what fs.watch cannot: a file not created yet, and the attempt ending.
    const timer = setTimeout(done, pollMs);
    signal.addEventListener("abort", done, { once: true });
    try {
      watcher = watch(path, { persistent: false }, done);
      watcher.on("error", () => {});
    } catch {
      watcher = null;
    }
  });
}

export interface FollowOptions {
  offset?: number;
  /** How often to re-check `isEnded` (and the file, where fs.watch is not available). */
  pollMs?: number;
  /** Bytes per yielded chunk at most. */
  limit?: number;
}

/**
 * New log content as it is appended, from `offset`, until the attempt has ended (then the
 * rest, an unfinished last line included, and the iterator returns) or `signal` aborts.
 * Works on the file alone, so it follows logs of attempts from before a restart too.
 */
export async function* followLog(
  path: string,
  signal: AbortSignal,
  isEnded: () => boolean | Promise<boolean>,
  opts: FollowOptions = {},
): AsyncGenerator<LogPage> {
  const pollMs = opts.pollMs ?? 250;
  const limit = opts.limit ?? MAX_READ_LIMIT;
  let offset = opts.offset ?? 0;
  while (!signal.aborted) {
    const page = readLog(path, { offset, limit });
    if (page.text !== "") {
      offset = page.nextOffset;
      yield page;
      continue;
    }
    // Checked after an empty read: whatever was written before the end is read below.
    if (await isEnded()) {
      for (;;) {
        const rest = readLog(path, { offset, limit, partial: true });
        if (rest.text === "") return;
        offset = rest.nextOffset;
        yield rest;
      }
    }
    await waitForChange(path, signal, pollMs);
  }
}
