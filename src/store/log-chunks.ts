// Task logs in the Store (migration 0014): a cluster worker ships each attempt's log file as
// ordered chunks (src/worker/log-shipper.ts), so any api node serves the log and its follow,
// and the log survives the loss of the worker's machine (docs/architecture.md §6).
//
// A chunk is the file's bytes from `byteOffset` on, at most MAX_LOG_CHUNK_BYTES; `seq` grows
// with the offset. append is idempotent by (task instance, seq): a replay after a lost answer
// is a no-op (ON CONFLICT DO NOTHING), never a duplicate, and chunks may arrive in any order.
// A read returns the stored bytes from its offset up to the first gap: a chunk that arrived
// before the one in front of it is not reached by a reader going on from nextOffset until the
// gap is filled, so a page never skips or repeats bytes. A page read costs two index lookups
// (the last chunk, and the chunks of the window), not a scan of the attempt's chunks: a follower
// polls it every 250 ms, and a task that prints a line now and then ships a chunk every 200 ms
// (18,000 chunks an hour).

import { and, asc, desc, eq, gte, lt, sql } from "drizzle-orm";
import { z } from "zod";
import { parseOrThrow } from "../core/zod-details.ts";
import type { Runner } from "./dialect.ts";

/** 256 KiB: a chunk fits any driver's parameter and keeps a page read to a handful of rows. */
export const MAX_LOG_CHUNK_BYTES = 256 * 1024;

export interface LogChunk {
  taskInstanceId: number;
  seq: number;
  byteOffset: number;
  data: Uint8Array;
}

export interface LogBytes {
  /** The stored bytes from the offset asked for (fewer than the limit at the end or a gap). */
  data: Buffer;
  /** Where the stored log ends (the end of its last chunk): the log's size as far as the Store knows it. */
  size: number;
}

export interface LogPosition {
  /** Contiguous bytes stored from offset 0. */
  size: number;
  /** The seq for the next chunk: one more than the highest stored (1 when none). */
  nextSeq: number;
}

export interface LogChunkRepository {
  /** Stores the chunks in one transaction; chunks already stored (same task instance and seq) are skipped. */
  append(chunks: readonly LogChunk[]): Promise<void>;
  /** Up to `limit` bytes from byte `offset`, and the size. */
  read(taskInstanceId: number, offset: number, limit: number): Promise<LogBytes>;
  /** Contiguous bytes stored from offset 0 (0 when the Store holds no log for the attempt). */
  size(taskInstanceId: number): Promise<number>;
  /** Where a shipper that starts (again) for the attempt continues. */
  position(taskInstanceId: number): Promise<LogPosition>;
}

const id = z.number().int().positive();
const chunkSchema = z.strictObject({
  taskInstanceId: id,
  seq: z.number().int().min(1),
  byteOffset: z.number().int().min(0),
  data: z
    .instanceof(Uint8Array, { error: "data must be bytes (a Uint8Array or Buffer)" })
    .refine((d) => d.byteLength > 0 && d.byteLength <= MAX_LOG_CHUNK_BYTES, { error: `data must hold 1 to ${MAX_LOG_CHUNK_BYTES} bytes` }),
});
const chunksSchema = z.array(chunkSchema).max(64);
const readSchema = z.strictObject({ taskInstanceId: id, offset: z.number().int().min(0), limit: z.number().int().min(1).max(16 * 1024 * 1024) });

const asBuffer = (d: Uint8Array) => (Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength));

export function createLogChunkRepository(run: Runner): LogChunkRepository {
  const t = run.t.taskLogChunks;

  async function position(taskInstanceId: number, db: Parameters<Parameters<Runner["read"]>[0]>[0]): Promise<LogPosition> {
    const [row] = await db
      .select({
        total: sql<string>`coalesce(sum(length(${t.data})), 0)`,
        end: sql<string>`coalesce(max(${t.byteOffset} + length(${t.data})), 0)`,
        lastSeq: sql<string>`coalesce(max(${t.seq}), 0)`,
      })
      .from(t)
      .where(eq(t.taskInstanceId, taskInstanceId));
    const total = Number(row?.total ?? 0);
    const end = Number(row?.end ?? 0);
    const nextSeq = Number(row?.lastSeq ?? 0) + 1;
    // Chunks never overlap, so when their lengths add up to the end they tile [0, end).
    if (total === end) return { size: end, nextSeq };
    const spans = await db
      .select({ byteOffset: t.byteOffset, length: sql<string>`length(${t.data})` })
      .from(t)
      .where(eq(t.taskInstanceId, taskInstanceId))
      .orderBy(asc(t.byteOffset));
    let size = 0;
    for (const s of spans) {
      if (s.byteOffset > size) break;
      size = Math.max(size, s.byteOffset + Number(s.length));
    }
    return { size, nextSeq };
  }

  return {
    async append(chunks) {
      parseOrThrow(chunksSchema, chunks, "log chunks");
      if (chunks.length === 0) return;
      const rows = chunks.map((c) => ({ taskInstanceId: c.taskInstanceId, seq: c.seq, byteOffset: c.byteOffset, data: asBuffer(c.data), createdAt: new Date() }));
      await run.write(async (tx) => void (await tx.insert(t).values(rows).onConflictDoNothing()));
    },

    async read(taskInstanceId, offset, limit) {
      parseOrThrow(readSchema, { taskInstanceId, offset, limit }, "log read");
      return run.read(async (db) => {
        const [last] = await db
          .select({ end: sql<string>`${t.byteOffset} + length(${t.data})` })
          .from(t)
          .where(eq(t.taskInstanceId, taskInstanceId))
          .orderBy(desc(t.byteOffset))
          .limit(1);
        const size = Number(last?.end ?? 0);
        const end = Math.min(size, offset + limit);
        if (end <= offset) return { data: Buffer.alloc(0), size };
        // The chunk holding `offset` (the last one starting at or before it) and those after it in the window.
        const first = sql`coalesce((select max(byte_offset) from task_log_chunks where task_instance_id = ${taskInstanceId} and byte_offset <= ${offset}), 0)`;
        const rows = await db
          .select({ byteOffset: t.byteOffset, data: t.data })
          .from(t)
          .where(and(eq(t.taskInstanceId, taskInstanceId), gte(t.byteOffset, first), lt(t.byteOffset, end)))
          .orderBy(asc(t.byteOffset));
        const parts: Buffer[] = [];
        let at = offset;
        for (const row of rows) {
          if (row.byteOffset > at) break;
          const data = asBuffer(row.data);
          const from = at - row.byteOffset;
          if (from >= data.byteLength) continue;
          const part = data.subarray(from, Math.min(data.byteLength, from + end - at));
          parts.push(part);
          at += part.byteLength;
          if (at >= end) break;
        }
        return { data: Buffer.concat(parts), size };
      });
    },

    async size(taskInstanceId) {
      parseOrThrow(id, taskInstanceId, "task instance id");
      return run.read(async (db) => (await position(taskInstanceId, db)).size);
    },

    async position(taskInstanceId) {
      parseOrThrow(id, taskInstanceId, "task instance id");
      return run.read((db) => position(taskInstanceId, db));
    },
  };
}
