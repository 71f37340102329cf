// The retention sweep of instance rows (issue 11; README "Operate"). Every master runs it for the
// slots it holds (`all`: every slot), as it drives them: no election, no second owner of a slot,
// and on Postgres each DELETE is fenced by the slot lease like the master's other writes
// (store/retention.ts). The count rule is global per workflow (the newest N across all slots), so
// masters agree on which instances are over it whatever slots each holds.
//
// A run: the workflows that running dependent tasks look at are protected for this run, then
// batches of BATCH instances are removed until a batch comes back short, with a macrotask between
// batches so the SQLite mutex and the Postgres pool serve the engine in between. Errors are
// logged and the next run tries again (STYLE.md 7). Files are not touched here: the node holding
// them removes them once the row is gone (worker/file-sweep.ts).

import type { Logger } from "../core/log.ts";
import type { RemovedInstance, Store } from "../store/store.ts";

/** Instances per DELETE: p50 80 ms of SQLite writer lock, 45 ms of Postgres row locks at load ~12 (README "Retention"). */
export const RETENTION_BATCH = 100;

export interface RetentionRules {
  maxAgeMs: number | null;
  keepPerWorkflow: number | null;
  intervalMs: number;
}

export interface RetentionSweepDeps {
  store: Store;
  log: Logger;
  rules: RetentionRules;
  /** The slots this node drives now; null = every slot (single node). */
  ownedSlots: () => readonly number[] | null;
  now?: () => number;
  /** Told about every removed batch (metrics). */
  onRemoved?: (removed: readonly RemovedInstance[]) => void;
}

export interface RetentionStats {
  runs: number;
  removed: number;
  errors: number;
  lastRunAt: Date | null;
}

type SweepState = "IDLE" | "WAITING" | "SWEEPING" | "STOPPED";

export class RetentionSweep {
  private state: SweepState = "IDLE";
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<number> | null = null;
  private readonly counts: RetentionStats = { runs: 0, removed: 0, errors: 0, lastRunAt: null };

  constructor(private readonly deps: RetentionSweepDeps) {}

  get enabled(): boolean {
    return this.deps.rules.maxAgeMs !== null || this.deps.rules.keepPerWorkflow !== null;
  }

  stats(): RetentionStats {
    return { ...this.counts };
  }

  /** Schedules runs every interval (the first after one interval, or a minute if sooner). */
  start(): void {
    if (this.state !== "IDLE") throw new Error(`retention sweep: start() in state ${this.state}`);
    if (!this.enabled) {
      this.state = "STOPPED";
      this.deps.log.info("retention: off (--retention-age 0 and no --retention-count): finished instances are kept");
      return;
    }
    this.arm(Math.min(this.deps.rules.intervalMs, 60_000));
  }

  async stop(): Promise<void> {
    this.state = "STOPPED";
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => 0);
  }

  /** One run now (tests, and the timer): how many instances it removed. */
  runOnce(): Promise<number> {
    if (this.running) return this.running;
    const previous = this.state;
    this.state = previous === "STOPPED" ? "STOPPED" : "SWEEPING";
    this.running = this.sweep()
      .catch((err: unknown) => {
        this.counts.errors++;
        this.deps.log.warn("retention: sweep failed; the next run tries again", { error: err instanceof Error ? err.message : String(err) });
        return 0;
      })
      .finally(() => {
        this.running = null;
        if (this.state === "SWEEPING") this.state = previous;
      });
    return this.running;
  }

  private arm(ms: number): void {
    if (this.state === "STOPPED") return;
    this.state = "WAITING";
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce().finally(() => this.arm(this.deps.rules.intervalMs));
    }, ms);
    this.timer.unref?.();
  }

  private async sweep(): Promise<number> {
    const { store, rules } = this.deps;
    const now = this.deps.now?.() ?? Date.now();
    const protectedWorkflows = await dependencyWorkflows(store);
    let removed = 0;
    for (;;) {
      if (this.state === "STOPPED") break;
      const slots = this.deps.ownedSlots();
      const batch = await store.retention.sweep({
        endedBefore: rules.maxAgeMs === null ? null : new Date(now - rules.maxAgeMs),
        keepPerWorkflow: rules.keepPerWorkflow,
        ...(slots === null ? {} : { slots }),
        limit: RETENTION_BATCH,
        protectedWorkflows,
      });
      removed += batch.length;
      this.counts.removed += batch.length;
      if (batch.length > 0) this.deps.onRemoved?.(batch);
      if (batch.length < RETENTION_BATCH) break;
      await new Promise((r) => setTimeout(r, 0));
    }
    this.counts.runs++;
    this.counts.lastRunAt = new Date(now);
    if (removed > 0) this.deps.log.info(`retention: removed ${removed} finished workflow instance${removed === 1 ? "" : "s"}`, { removed });
    return removed;
  }
}

/** Workflows a running dependent task reads (its dependOn items): their instances stay this run. */
async function dependencyWorkflows(store: Store): Promise<number[]> {
  const ids = new Set<number>();
  for (const { projectId, workflowId, version } of await store.retention.dependentTargets()) {
    const stored = await store.workflows.getVersion(workflowId, version);
    for (const task of stored?.definition.tasks ?? []) {
      if (task.type !== "dependent") continue;
      for (const item of task.dependOn) {
        const project = item.project === undefined ? { id: projectId } : await store.projects.getByName(item.project);
        const wf = project ? await store.workflows.get(project.id, item.workflow) : null;
        if (wf) ids.add(wf.id);
      }
    }
  }
  return [...ids];
}
