// One page of an attempt's log, whatever holds it (a local file, or chunks in the Store).
// Offsets are BYTE offsets: O(1) to seek, stable while the log grows, and what `?offset=&limit=`
// of the API carries. A page ends on a line boundary, so a line is never split across pages
// (and UTF-8 never cut), except a single line longer than `limit`, which comes in
// `limit`-sized pieces cut before an incomplete character (docs/architecture.md §6).

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
  /** Log size at the time of the read. */
  size: number;
  /** False when there is no log (yet): an attempt that has not started writing or shipping. */
  exists: boolean;
}

const NEWLINE = 0x0a;

/** Offset and limit checked, defaults applied; throws ValidationError naming the field. */
export function parseReadOptions(opts: ReadLogOptions): { offset: number; limit: number } {
  const parsed = readLogOptionsSchema.safeParse({ offset: opts.offset, limit: opts.limit });
  if (!parsed.success) throw invalidInput("log read options", zodIssuesToDetails(parsed.error), parsed.error);
  return parsed.data;
}

// Where to cut `buf[0, end)` so the last UTF-8 character is whole: before an incomplete one.
function utf8Boundary(buf: Uint8Array, end: number): number {
  let lead = end - 1;
  while (lead > 0 && end - lead < 4 && (buf[lead]! & 0xc0) === 0x80) lead--;
  const byte = buf[lead]!;
  const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return lead + length > end && lead > 0 ? lead : end;
}

/** The page in `window` (the bytes read from `offset`, at most `limit`) of a log of `size` bytes. */
export function pageOf(window: Buffer, offset: number, limit: number, size: number, partial: boolean | undefined): LogPage {
  const got = window.byteLength;
  if (got === 0) return { text: "", offset, nextOffset: offset, size, exists: true };
  let end = window.lastIndexOf(NEWLINE, got - 1) + 1;
  if (end === 0) {
    // No newline in the window: a line longer than the limit, or an unfinished last line.
    if (got === limit) end = utf8Boundary(window, got);
    else if (partial) end = got;
    else return { text: "", offset, nextOffset: offset, size, exists: true };
  } else if (partial && got < limit) end = got;
  return { text: window.toString("utf8", 0, end), offset, nextOffset: offset + end, size, exists: true };
}

export const emptyPage = (offset: number): LogPage => ({ text: "", offset, nextOffset: offset, size: 0, exists: false });
