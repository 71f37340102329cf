// One `porpoise all` per data directory: its single-node coordinator owns every slot, so a second
// process on the same directory would drive the same instances twice. The lock is an SQLite
// database held in EXCLUSIVE locking mode: an OS file lock that the kernel releases when the
// process dies (even by kill -9), so there is no stale lock file to clean up by hand.

import { Database } from "bun:sqlite";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PorpoiseError } from "../core/errors.ts";

export class DataDirLockedError extends PorpoiseError {
  constructor(message: string) {
    super("DATA_DIR_LOCKED", 409, message);
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const lockPath = join(dataDir, "porpoise.lock");
  const pidPath = join(dataDir, "porpoise.pid");
  let db: Database;
  try {
    db = new Database(lockPath, { create: true });
  } catch (err) {
    throw new PorpoiseError("DATA_DIR_UNUSABLE", 500, `cannot create ${lockPath}: ${(err as Error).message}; is ${dataDir} writable?`, { cause: err });
  }
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    // No journal file next to the lock: nothing in this database is worth a rollback.
    db.exec("PRAGMA journal_mode = OFF");
    // The first write takes the exclusive lock; in EXCLUSIVE mode it is kept after COMMIT.
    db.exec("BEGIN EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)");
    db.exec("COMMIT");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== "SQLITE_BUSY") {
      throw new PorpoiseError("DATA_DIR_UNUSABLE", 500, `cannot lock ${lockPath}: ${(err as Error).message}`, { cause: err });
    }
    let holder = "another process";
    try {
      holder = `another porpoise process (pid ${readFileSync(pidPath, "utf8").trim()})`;
    } catch {}
    throw new DataDirLockedError(`data directory ${dataDir} is in use by ${holder}: stop it, or pass another --data-dir`);
  }
  // Only informs the message above; the lock itself is the database.
  writeFileSync(pidPath, `${process.pid}\n`);
  return {
    release() {
      rmSync(pidPath, { force: true });
      db.close();
    },
  };
}
