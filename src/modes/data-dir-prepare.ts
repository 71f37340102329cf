// Making the data directory usable at start: created 0700, locked (`all`), its files closed to
// task users. A directory that cannot be made or written (a path through a file, no permission, a
// read-only mount) is a configuration problem, not a crash: one line naming --data-dir and the
// reason, exit code 2, nothing started (issue 11 papercut: it printed a stack trace).

import { ConfigError } from "../core/errors.ts";
import { DataDirLockedError } from "./data-dir-lock.ts";

export class DataDirUnusableError extends ConfigError {
  constructor(dataDir: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `--data-dir ${dataDir} cannot be used: ${reason}. Give a directory porpoise's user can create and write (or fix its permissions); nothing was started.`,
      [{ path: "dataDir", message: reason }],
    );
  }
}

/** Runs the start-up steps on the data dir; any failure but "locked by another process" becomes DataDirUnusableError. */
export async function onDataDir<T>(dataDir: string, steps: () => T | Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (err) {
    if (err instanceof DataDirLockedError) throw err;
    throw new DataDirUnusableError(dataDir, err);
  }
}
