// Starts the retention sweeps a mode runs (README "Operate", docs/architecture.md §3.11): a node
// that drives slots (master, all) removes finished instance rows of its slots; a node that keeps
// attempt files (worker, all) removes the files of instances that are gone or long finished.

import type { Config } from "../config.ts";
import type { Logger } from "../core/log.ts";
import { RetentionSweep } from "../master/retention-sweep.ts";
import type { RemovedInstance, Store } from "../store/store.ts";
import { FileSweep } from "../worker/file-sweep.ts";
import type { Resources } from "./mode.ts";

export interface RetentionSweeps {
  rows: RetentionSweep | null;
  files: FileSweep | null;
}

export function startRetention(opts: {
  config: Config;
  log: Logger;
  store: Store;
  resources: Resources;
  /** Slots this node drives (null: every slot, a single node); leave out on a node that drives none. */
  ownedSlots?: () => readonly number[] | null;
  /** Sweep the attempt files under config.dataDir and config.workDir. */
  files: boolean;
  onRemoved?: (removed: readonly RemovedInstance[]) => void;
}): RetentionSweeps {
  const { config, store, resources } = opts;
  const log = opts.log.child({ component: "retention" });
  const r = config.retention;
  const rows = opts.ownedSlots
    ? new RetentionSweep({
        store,
        log,
        rules: { maxAgeMs: r.maxAgeMs, keepPerWorkflow: r.keepPerWorkflow, intervalMs: r.intervalMs },
        ownedSlots: opts.ownedSlots,
        ...(opts.onRemoved ? { onRemoved: opts.onRemoved } : {}),
      })
    : null;
  const files = opts.files ? new FileSweep({ store, log, dataDir: config.dataDir, workDir: config.workDir, workDirMaxAgeMs: r.workDirMaxAgeMs, intervalMs: r.intervalMs }) : null;
  rows?.start();
  files?.start();
  resources.add("retention", async () => {
    await rows?.stop();
    await files?.stop();
  });
  return { rows, files };
}
