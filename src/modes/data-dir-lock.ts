// One `porpoise all` per data directory: its single-node coordinator owns every slot, so a second
// process on the same directory would drive the same instances twice. The lock is an SQLite
// database held in EXCLUSIVE locking mode: an OS file lock that the kernel releases when the
// process dies (even by kill -9), so there is no stale lock file to clean up by hand.

import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PorpoiseError } from "../core/errors.ts";

export class DataDirLockedError extends PorpoiseError {
  constructor(message: string, cause?: unknown) {
    super("DATA_DIR_LOCKED", 409, message, { cause });
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const lockPath = join(dataDir, "porpoise.lock");
  const pidPath = join(dataDir, "porpoise.pid");
  const db = new Database(lockPath, { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    // The first write takes the exclusive lock; in EXCLUSIVE mode it is kept after COMMIT.
    db.exec("BEGIN EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)");
    db.exec("COMMIT");
  } catch (err) {
    db.close();
    let holder = "another process";
    try {
      holder = `another porpoise process (pid ${readFileSync(pidPath, "utf8").trim()})`;
    } catch {}
    throw new DataDirLockedError(
      `data directory ${dataDir} is in use by ${holder}: stop it, or pass another --data-dir`,
      err,
    );
  }
  // Only informs the message above; the lock itself is the database.
  writeFileSync(pidPath, `${process.pid}\n`);
  return {
    release() {
      db.close();
    },
  };
}
