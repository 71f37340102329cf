// Task logs in the Store (migration 0014, src/store/log-chunks.ts), both dialects: chunks
// appended twice or out of order read back exactly once and in order; byte-offset reads cross
// chunk boundaries; a gap hides what lies behind it; deleting the attempt deletes its log.

import { describe, expect, test } from "bun:test";
import { MAX_LOG_CHUNK_BYTES } from "../../../src/store/log-chunks.ts";
import { dialects, freshStore, rawExec } from "../../helpers/stores.ts";
import { seedAttempt } from "./log-fixtures.ts";

/** `text` cut into chunks of `size` bytes with increasing seq. */
function chunksOf(taskInstanceId: number, text: Buffer, size: number) {
  const chunks = [];
  for (let at = 0, seq = 1; at < text.byteLength; at += size, seq++) chunks.push({ taskInstanceId, seq, byteOffset: at, data: text.subarray(at, at + size) });
  return chunks;
}

describe.each(dialects)("task log chunks (%s)", (dialect) => {
  test("chunks appended twice and out of order read back exactly once, in order", async () => {
    await using store = await freshStore(dialect);
    const id = await seedAttempt(store);
    const text = Buffer.from(Array.from({ length: 40 }, (_, i) => `line ${i} ünïcødé\n`).join(""));
    const chunks = chunksOf(id, text, 37); // cuts inside lines and inside UTF-8 characters
    expect(await store.logChunks.size(id)).toBe(0);
    expect(await store.logChunks.position(id)).toEqual({ size: 0, nextSeq: 1 });

    const shuffled = [...chunks].reverse();
    await store.logChunks.append(shuffled.slice(0, 5)); // the tail first: nothing readable yet
    expect(await store.logChunks.size(id)).toBe(0);
    expect((await store.logChunks.read(id, 0, 1000)).data.byteLength).toBe(0);
    await store.logChunks.append(shuffled);
    await store.logChunks.append(chunks); // a full replay
    await store.logChunks.append([chunks[3]!, chunks[3]!]);

    expect(await store.logChunks.size(id)).toBe(text.byteLength);
    expect(await store.logChunks.position(id)).toEqual({ size: text.byteLength, nextSeq: chunks.length + 1 });
    const all = await store.logChunks.read(id, 0, 1024 * 1024);
    expect(all.data.equals(text)).toBe(true);
    expect(all.size).toBe(text.byteLength);

    // Pages at any offset and size cross chunk boundaries exactly.
    for (const [offset, limit] of [[0, 1], [36, 2], [37, 37], [100, 500], [text.byteLength - 3, 100], [text.byteLength, 10], [text.byteLength + 5, 10]] as const) {
      const page = await store.logChunks.read(id, offset, limit);
      expect(page.data.equals(text.subarray(offset, offset + limit))).toBe(true);
    }
  });

  test("a missing chunk stops a reader going on from nextOffset until it arrives", async () => {
    await using store = await freshStore(dialect);
    const id = await seedAttempt(store);
    const text = Buffer.from("a".repeat(30) + "b".repeat(30) + "c".repeat(30));
    const [a, b, c] = chunksOf(id, text, 30);
    await store.logChunks.append([a!, c!]);
    expect(await store.logChunks.size(id)).toBe(30);
    expect((await store.logChunks.read(id, 0, 100)).data.toString()).toBe("a".repeat(30));
    expect((await store.logChunks.read(id, 30, 100)).data.byteLength).toBe(0);
    // The bytes behind the gap are the log's true bytes at their offset.
    expect((await store.logChunks.read(id, 60, 100)).data.toString()).toBe("c".repeat(30));
    expect((await store.logChunks.position(id)).nextSeq).toBe(4);
    await store.logChunks.append([b!]);
    expect((await store.logChunks.read(id, 0, 100)).data.equals(text)).toBe(true);
  });

  test("a log of more than 1 MiB in 256 KiB chunks reads back whole; bad chunks are refused naming the field", async () => {
    await using store = await freshStore(dialect);
    const id = await seedAttempt(store);
    const text = Buffer.alloc(1024 * 1024 + 12_345);
    for (let i = 0; i < text.byteLength; i++) text[i] = i % 251;
    const chunks = chunksOf(id, text, MAX_LOG_CHUNK_BYTES);
    expect(chunks).toHaveLength(5);
    for (const c of chunks) await store.logChunks.append([c]);
    expect(await store.logChunks.size(id)).toBe(text.byteLength);
    const back = Buffer.concat([(await store.logChunks.read(id, 0, 1024 * 1024)).data, (await store.logChunks.read(id, 1024 * 1024, 1024 * 1024)).data]);
    expect(back.equals(text)).toBe(true);

    const tooBig = { taskInstanceId: id, seq: 9, byteOffset: text.byteLength, data: Buffer.alloc(MAX_LOG_CHUNK_BYTES + 1) };
    await expect(store.logChunks.append([tooBig])).rejects.toThrow(/data/);
    await expect(store.logChunks.append([{ ...tooBig, data: Buffer.alloc(0) }])).rejects.toThrow(/data/);
    await expect(store.logChunks.append([{ ...tooBig, data: Buffer.from("x"), seq: 0 }])).rejects.toThrow(/seq/);
    await expect(store.logChunks.read(id, -1, 10)).rejects.toThrow(/offset/);
  });

  test("the log goes with its attempt", async () => {
    await using store = await freshStore(dialect);
    const id = await seedAttempt(store);
    await store.logChunks.append([{ taskInstanceId: id, seq: 1, byteOffset: 0, data: Buffer.from("hello\n") }]);
    // (SQLite enforces foreign keys per connection: the raw one needs them switched on, as the Store does.)
    await rawExec(store.url, `${dialect === "sqlite" ? "PRAGMA foreign_keys = ON; " : ""}DELETE FROM task_instances WHERE id = ${id}`);
    expect(await store.logChunks.size(id)).toBe(0);
  });
});
