// /readyz's check of the data dir of a process that runs a worker (`porpoise all`): the worker
// writes every attempt's log and working directory there, so while the disk is full or the dir
// takes no writes, every attempt it takes fails — the process is not ready (issue 9 item 8).
// One small write and a remove per probe: it answers what the next attempt would meet.

import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

export function dataDirCheck(dataDir: string): () => Promise<string | null> {
  const probe = join(dataDir, ".readyz-probe");
  return async () => {
    try {
      await writeFile(probe, "ok\n");
      await rm(probe, { force: true });
      return null;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ENOSPC" || e.code === "EDQUOT") return `disk full: no space left for task logs and working directories in the data dir ${dataDir}`;
      if (e.code === "EROFS" || e.code === "EACCES" || e.code === "EPERM") return `data dir not writable: ${dataDir} (${e.code === "EROFS" ? "read-only file system" : "permission denied"})`;
      return `data dir not usable: ${dataDir} (${e.message})`;
    }
  };
}
