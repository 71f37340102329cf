// Starts the retention sweeps a mode runs (README "Retention", docs/architecture.md §5): a node
// that drives slots (master, all) removes finished instance rows of its slots; a node that keeps
// attempt files (worker, all) removes the files of instances that are gone or long finished.

import type { Config } from "../config.ts";
import type { Logger } from "../core/log.ts";
import { RetentionSweep } from "../master/retention-sweep.ts";
import type { RemovedInstance, Store } from "../store/store.ts";
import { FileSweep } from "../worker/file-sweep.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
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
  /** Counts what the sweeps remove (porpoise_retention_removed_total); the mode passes its registry. */
  metrics?: MetricsRegistry;
}): RetentionSweeps {
  const { config, store, resources } = opts;
  const log = opts.log.child({ component: "retention" });
  const r = config.retention;
  const removedTotal = opts.metrics?.counter({
    name: "porpoise_retention_removed_total",
    help: "What the retention sweeps removed: finished workflow instances (rows, with their attempts and stored logs), and instance directories of log files and work dirs on this node",
    labels: ["what"] as const,
  });
  const onRemoved = (removed: readonly RemovedInstance[]) => {
    removedTotal?.labels("instances").inc(removed.length);
    opts.onRemoved?.(removed);
  };
  const rows = opts.ownedSlots
    ? new RetentionSweep({
        store,
        log,
        rules: { maxAgeMs: r.maxAgeMs, keepPerWorkflow: r.keepPerWorkflow, intervalMs: r.intervalMs },
        ownedSlots: opts.ownedSlots,
        onRemoved,
      })
    : null;
  const files = opts.files
    ? new FileSweep({
        store, log, dataDir: config.dataDir, workDir: config.workDir, workDirMaxAgeMs: r.workDirMaxAgeMs, intervalMs: r.intervalMs,
        onRemoved: (f) => {
          removedTotal?.labels("log_dirs").inc(f.logDirs);
          removedTotal?.labels("work_dirs").inc(f.workDirs);
        },
      })
    : null;
  rows?.start();
  files?.start();
  resources.add("retention", async () => {
    await rows?.stop();
    await files?.stop();
  });
  return { rows, files };
}
