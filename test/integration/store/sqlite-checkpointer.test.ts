// The SQLite WAL checkpoint thread (src/store/sqlite-checkpointer.ts) on real files: an idle store
// never starts it; once the WAL has grown past the threshold, the thread copies the WAL into the
// database file while the main connection's own threshold is out of reach, so no commit of the
// store pays for a checkpoint; the close stops it and is the last connection (the WAL is gone),
// and nothing written is lost.

import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, silentLogger } from "../../../src/core/log.ts";
import { SqliteCheckpointer } from "../../../src/store/sqlite-checkpointer.ts";
import { openStore } from "../../../src/store/open.ts";

const size = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

test("past the threshold the thread checkpoints the WAL and the commits do not; the close removes the WAL; nothing is lost", async () => {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-ckpt-"));
  const path = join(dir, "t.db");
  try {
    const client = new Database(path, { create: true, strict: true });
    client.exec("PRAGMA journal_mode = WAL");
    client.exec("PRAGMA synchronous = NORMAL");
    client.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    const checkpointer = new SqliteCheckpointer(client, path, silentLogger, { startAtBytes: 256 * 1024 });
    const insert = client.prepare("INSERT INTO blobs (body) VALUES (?)");
    const body = "x".repeat(2000);
    // ~0.6 MB in the WAL: under SQLite's own 1,000-page threshold, past the thread's.
    for (let i = 0; i < 300; i++) insert.run(body);
    expect(size(`${path}-wal`)).toBeGreaterThan(256 * 1024);
    const before = size(path);
    await until("the thread to start", () => checkpointer.running);
    await until("the thread's checkpoint", () => size(path) > before + 500 * 1024);
    expect(client.query("PRAGMA wal_autocheckpoint").get()).toEqual({ wal_autocheckpoint: 10_000 });
    // Writes go on while the thread runs; well past 1,000 pages, which SQLite would checkpoint in a commit.
    for (let i = 0; i < 3000; i++) insert.run(body);
    await until("the thread to catch up", () => size(path) > 6 * 1024 * 1024);
    await checkpointer.stop();
    expect(checkpointer.running).toBe(false);
    insert.finalize();
    client.close();
    // The main connection was the last: SQLite checkpointed and removed the WAL.
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = new Database(path);
    expect(again.query("SELECT count(*) AS n FROM blobs").get()).toEqual({ n: 3300 });
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an idle store never starts the thread; a store that does real work closes with it running and leaves every commit in the database file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-ckpt-store-"));
  const url = `sqlite:${join(dir, "p.db")}`;
  try {
    const store = await openStore({ url });
    await Bun.sleep(1500);
    // Only the migrations' ~0.4 MB: under the 1 MB at which the thread starts.
    expect(size(join(dir, "p.db-wal"))).toBeLessThan(1024 * 1024);
    // Real work through the store: ~2 MB of audit-bearing users.
    const actor = { userId: null, userName: "t" };
    for (let i = 0; i < 3000; i++) await store.users.create({ name: `user-${i}-${"y".repeat(200)}`, passwordHash: null, isAdmin: false }, actor);
    expect(size(join(dir, "p.db-wal"))).toBeGreaterThan(1024 * 1024);
    await Bun.sleep(1500);
    await store.close();
    // The close is the last connection's (the thread's is closed, every cached statement
    // finalized): SQLite copied the WAL into the file and removed it, so a copy of the database
    // file alone — a backup taken after the server stopped — holds every commit.
    expect(existsSync(join(dir, "p.db-wal"))).toBe(false);
    copyFileSync(join(dir, "p.db"), join(dir, "copy.db"));
    const copy = await openStore({ url: `sqlite:${join(dir, "copy.db")}` });
    expect((await copy.users.list({ limit: 1, offset: 0 })).total).toBe(3000);
    await copy.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a thread that cannot open the database stops, says so, and the commits checkpoint themselves again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-ckpt-fail-"));
  try {
    const client = new Database(join(dir, "real.db"), { create: true });
    client.exec("PRAGMA journal_mode = WAL");
    client.exec("PRAGMA wal_autocheckpoint = 1000");
    const lines: string[] = [];
    // A path the thread cannot open (no such file: it never creates one), past the threshold at once.
    const checkpointer = new SqliteCheckpointer(client, join(dir, "gone", "x.db"), createLogger({ level: "warn", format: "text", write: (l) => lines.push(l) }), { startAtBytes: 0 });
    await until("the thread's failure to be logged", () => lines.some((l) => l.includes("the SQLite checkpoint thread stopped")));
    expect(checkpointer.running).toBe(false);
    expect(client.query("PRAGMA wal_autocheckpoint").get()).toEqual({ wal_autocheckpoint: 1000 });
    await checkpointer.stop();
    client.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad options are refused with the field named", () => {
  const client = new Database(":memory:");
  expect(() => new SqliteCheckpointer(client, ":memory:", silentLogger, { startAtBytes: -1 })).toThrow(/startAtBytes must be 0 or more, got -1/);
  client.close();
});
