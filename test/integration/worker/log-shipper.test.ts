// The worker's log shipper (src/worker/log-shipper.ts) against real stores: a log of more than
// 1 MiB written while it ships arrives whole as ordered chunks of at most 256 KiB; the task-log
// cap caps the chunks; a second shipper for the same attempt continues instead of repeating;
// and a Postgres that is stopped mid-log (a throwaway server) costs nothing once it is back.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "../../../src/core/log.ts";
import { MAX_LOG_CHUNK_BYTES } from "../../../src/store/log-chunks.ts";
import { openStore } from "../../../src/store/open.ts";
import type { Store } from "../../../src/store/store.ts";
import { startLogShipping } from "../../../src/worker/log-shipper.ts";
import { openTaskLog } from "../../../src/worker/task-log.ts";
import { restartablePostgres } from "../../faults/restartable-postgres.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { seedAttempt } from "../store/log-fixtures.ts";
import { tempDir, waitFor } from "./worker-helpers.ts";

async function storedLog(store: Store, id: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let offset = 0; ; ) {
    const { data } = await store.logChunks.read(id, offset, 1024 * 1024);
    if (data.byteLength === 0) return Buffer.concat(parts);
    parts.push(data);
    offset += data.byteLength;
  }
}

describe.each(dialects)("log shipper (%s)", (dialect) => {
  test("a log of more than 1 MiB, written while shipping, arrives whole in ordered chunks of at most 256 KiB", async () => {
    await using store = await freshStore(dialect);
    using dir = tempDir("ship");
    const id = await seedAttempt(store);
    const path = join(dir.path, "1-1.log");
    const shipper = startLogShipping({ store, taskInstanceId: id, path, log: silentLogger, intervalMs: 20 });
    const writer = openTaskLog(path);
    const line = "x".repeat(1000) + " ünïcødé";
    for (let i = 0; i < 1300; i++) {
      writer.write("out", `${i} ${line}`);
      if (i % 100 === 0) {
        writer.flush();
        await Bun.sleep(5);
      }
    }
    await waitFor("the shipper sends while the task writes", () => shipper.shippedBytes > 0);
    expect(shipper.state).toBe("SHIPPING");
    writer.close();
    const result = await shipper.finish();
    const file = readFileSync(path);
    expect(file.byteLength).toBeGreaterThan(1024 * 1024);
    expect(result).toEqual({ shippedBytes: file.byteLength, complete: true });
    expect(shipper.state).toBe("FINISHED");
    expect((await storedLog(store, id)).equals(file)).toBe(true);

    const rows = await rawQuery(store.url, `SELECT seq, byte_offset, length(data) AS len FROM task_log_chunks WHERE task_instance_id = ${id} ORDER BY seq`);
    let offset = 0;
    rows.forEach((r, i) => {
      expect(Number(r.seq)).toBe(i + 1);
      expect(Number(r.byte_offset)).toBe(offset);
      expect(Number(r.len)).toBeLessThanOrEqual(MAX_LOG_CHUNK_BYTES);
      offset += Number(r.len);
    });
    expect(offset).toBe(file.byteLength);
    expect(rows.length).toBeGreaterThanOrEqual(5);

    // A shipper started again for the attempt (a restarted worker) continues after what is stored.
    const again = startLogShipping({ store, taskInstanceId: id, path, log: silentLogger, intervalMs: 20 });
    const w2 = openTaskLog(path);
    w2.write("sys", "adopted after a restart");
    w2.close();
    expect(await again.finish()).toEqual({ shippedBytes: readFileSync(path).byteLength, complete: true });
    expect((await storedLog(store, id)).equals(readFileSync(path))).toBe(true);
  });

  test("the task-log cap applies to what is shipped; an attempt that wrote nothing ships nothing", async () => {
    await using store = await freshStore(dialect);
    using dir = tempDir("ship-cap");
    const id = await seedAttempt(store);
    const path = join(dir.path, "1-1.log");
    const shipper = startLogShipping({ store, taskInstanceId: id, path, log: silentLogger, intervalMs: 20 });
    const writer = openTaskLog(path, { maxBytes: 10_000 });
    for (let i = 0; i < 1000; i++) writer.write("out", `line ${i} ${"y".repeat(50)}`);
    writer.close();
    const { shippedBytes } = await shipper.finish();
    expect(shippedBytes).toBe(readFileSync(path).byteLength);
    expect(shippedBytes).toBeLessThan(10_200);
    expect((await storedLog(store, id)).toString()).toContain("log truncated");

    const silent = await seedAttempt(store);
    const none = startLogShipping({ store, taskInstanceId: silent, path: join(dir.path, "never-written.log"), log: silentLogger });
    expect(await none.finish()).toEqual({ shippedBytes: 0, complete: true });
    expect(await store.logChunks.size(silent)).toBe(0);
  });
});

describe("log shipper across a Postgres outage", () => {
  test("chunks written while the store is away are retried and arrive once, in order", async () => {
    await using pg = await restartablePostgres();
    await pg.start();
    const store = await openStore({ url: pg.url });
    using dir = tempDir("ship-outage");
    try {
      const id = await seedAttempt(store);
      const path = join(dir.path, "1-1.log");
      const shipper = startLogShipping({ store, taskInstanceId: id, path, log: silentLogger, intervalMs: 20 });
      const writer = openTaskLog(path);
      for (let i = 0; i < 100; i++) writer.write("out", `before ${i}`);
      writer.flush();
      await waitFor("the first lines shipped", () => shipper.shippedBytes === readFileSync(path).byteLength);

      await pg.stopFast();
      for (let i = 0; i < 3000; i++) writer.write("out", `during ${i} ${"z".repeat(100)}`);
      writer.flush();
      await Bun.sleep(300); // the shipper fails and retries meanwhile
      await pg.start();
      for (let i = 0; i < 100; i++) writer.write("out", `after ${i}`);
      writer.close();

      const result = await shipper.finish();
      const file = readFileSync(path);
      expect(result).toEqual({ shippedBytes: file.byteLength, complete: true });
      expect((await storedLog(store, id)).equals(file)).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);
});
