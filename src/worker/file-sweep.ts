// The retention sweep of attempt files (issue 11; README "Operate"). Logs and work dirs live on
// the node that ran the attempts (core/attempt-paths.ts: <data-dir>/logs/<instance>/ and
// <work-dir>/<instance>/), so each node with a data dir (`all`, `worker`) sweeps its own, every
// retention interval:
// - an instance directory whose instance is gone from the Store (removed by a master's sweep or by
//   DELETE /workflow-instances/:id) is removed, logs and work dir alike;
// - a work dir is also removed once its instance has been finished for --work-dir-retention
//   (the log stays with the instance: it is what the API shows).
// Only names that are instance ids are looked at; an instance that is not finished is never
// touched. One Store read per 500 directories (store.retention.presence).

import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../core/log.ts";
import { isTerminalWorkflowState, type WorkflowState } from "../core/states.ts";
import type { Store } from "../store/store.ts";

export interface FileSweepDeps {
  store: Store;
  log: Logger;
  /** `<dataDir>/logs` holds the logs. */
  dataDir: string;
  /** The root of the attempts' work dirs (--work-dir; `<dataDir>/work` when the worker was given none). */
  workDir: string;
  /** null: a work dir stays as long as its instance. */
  workDirMaxAgeMs: number | null;
  intervalMs: number;
  now?: () => number;
  /** Told about every pass that removed something (metrics). */
  onRemoved?: (removed: FileSweepResult) => void;
}

export interface FileSweepResult {
  logDirs: number;
  workDirs: number;
}

async function instanceDirs(root: string): Promise<number[]> {
  try {
    const entries = await readdir(root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && /^[1-9]\d{0,15}$/.test(e.name)).map((e) => Number(e.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** Removes one instance's log dir and work dir now (a deleted instance, on the node that ran it). */
export async function removeInstanceFiles(dataDir: string, workDir: string, instanceId: number): Promise<void> {
  await Promise.all([rm(join(dataDir, "logs", String(instanceId)), { recursive: true, force: true }), rm(join(workDir, String(instanceId)), { recursive: true, force: true })]);
}

export class FileSweep {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<FileSweepResult> | null = null;
  private stopped = false;
  private totals: FileSweepResult = { logDirs: 0, workDirs: 0 };

  constructor(private readonly deps: FileSweepDeps) {}

  stats(): FileSweepResult {
    return { ...this.totals };
  }

  start(): void {
    this.arm(Math.min(this.deps.intervalMs, 60_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => null);
  }

  /** One pass now: how many instance directories it removed. */
  runOnce(): Promise<FileSweepResult> {
    this.running ??= this.sweep()
      .catch((err: unknown) => {
        this.deps.log.warn("retention: file sweep failed; the next run tries again", { error: err instanceof Error ? err.message : String(err) });
        return { logDirs: 0, workDirs: 0 };
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce().finally(() => this.arm(this.deps.intervalMs));
    }, ms);
    this.timer.unref?.();
  }

  private async sweep(): Promise<FileSweepResult> {
    const { store, dataDir, workDir, workDirMaxAgeMs } = this.deps;
    const logsRoot = join(dataDir, "logs");
    const [logIds, workIds] = await Promise.all([instanceDirs(logsRoot), instanceDirs(workDir)]);
    const stored = await store.retention.presence([...new Set([...logIds, ...workIds])]);
    const cutoff = workDirMaxAgeMs === null ? null : (this.deps.now?.() ?? Date.now()) - workDirMaxAgeMs;
    const result: FileSweepResult = { logDirs: 0, workDirs: 0 };
    for (const id of logIds) {
      if (stored.has(id)) continue;
      await rm(join(logsRoot, String(id)), { recursive: true, force: true });
      result.logDirs++;
    }
    for (const id of workIds) {
      const s = stored.get(id);
      const expired = s !== undefined && cutoff !== null && isTerminalWorkflowState(s.state as WorkflowState) && s.state !== "PAUSE" && s.endTime !== null && s.endTime.getTime() < cutoff;
      if (s !== undefined && !expired) continue;
      await rm(join(workDir, String(id)), { recursive: true, force: true });
      result.workDirs++;
    }
    this.totals.logDirs += result.logDirs;
    this.totals.workDirs += result.workDirs;
    if (result.logDirs + result.workDirs > 0) this.deps.onRemoved?.(result);
    if (result.logDirs + result.workDirs > 0) this.deps.log.info(`retention: removed the log dirs of ${result.logDirs} and the work dirs of ${result.workDirs} workflow instances`, { ...result });
    return result;
  }
}
