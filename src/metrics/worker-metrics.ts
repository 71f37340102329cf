// What a worker records per task: how long the ready task waited in its queue (master's dispatch
// → worker start), how long the attempt ran, by type and result, and what became of each ready
// task it claimed (dispatch results). Children are bound on first use and kept, so a task costs
// a few map reads and adds (README, Performance: the cost measured on `all` throughput).

import type { Counter, CounterChild, Histogram, HistogramChild, MetricsRegistry } from "./registry.ts";
import { DURATION_BUCKETS } from "./registry.ts";

/** What became of a claimed ready task (docs/architecture.md §3.4). */
export const DISPATCH_RESULTS = ["started", "duplicate", "no_matching_row", "started_elsewhere", "row_gone", "reset_pending", "unknown_task"] as const;
export type DispatchResult = (typeof DISPATCH_RESULTS)[number];

export class WorkerMetrics {
  private readonly waits: Histogram<"worker_group">;
  private readonly durations: Histogram<"type" | "state">;
  private readonly waitChildren = new Map<string, HistogramChild>();
  private readonly durationChildren = new Map<string, Map<string, HistogramChild>>();
  private readonly results: Record<DispatchResult, CounterChild>;

  constructor(metrics: MetricsRegistry, figures: { running: () => number; slots: number }) {
    this.waits = metrics.histogram({
      name: "porpoise_task_queue_wait_seconds",
      help: "Time a ready task waited in its worker group's queue, from the master's dispatch to the start on a worker, in seconds (the two machines' clocks in a cluster).",
      labels: ["worker_group"],
      buckets: DURATION_BUCKETS,
    });
    this.durations = metrics.histogram({
      name: "porpoise_task_duration_seconds",
      help: "Run time of task attempts on this worker, from start to end, in seconds, by task type and result state.",
      labels: ["type", "state"],
      buckets: DURATION_BUCKETS,
    });
    const results = metrics.counter({
      name: "porpoise_dispatch_results_total",
      help: "Ready tasks this worker claimed, by what became of them: started; duplicate (a copy of one it runs); no_matching_row (no DISPATCH row with that attempt and token: stale or forged); started_elsewhere (another worker started it first); row_gone (its dispatch row left Redis since the claim: Redis lost its contents, or the attempt moved on; a copy offered again may run); reset_pending (Redis lost its contents and not every node has put its start records back yet: left unacknowledged, offered again later); unknown_task (its task is gone from the workflow).",
      labels: ["result"],
    });
    this.results = Object.fromEntries(DISPATCH_RESULTS.map((r) => [r, results.labels(r)])) as Record<DispatchResult, CounterChild>;
    // Every result shows from the first scrape, at 0: a rate over a series that appears late misses its first step.
    for (const child of Object.values(this.results)) child.inc(0);
    metrics.gauge({ name: "porpoise_worker_running_tasks", help: "Task attempts running on this worker now.", collect: (g) => g.set(figures.running()) });
    metrics.gauge({ name: "porpoise_worker_slots", help: "How many task attempts this worker runs at once at most (--worker-slots)." }).set(figures.slots);
  }

  dispatch(result: DispatchResult): void {
    this.results[result].inc();
  }

  /** The task started `waitedMs` after its master dispatched it. */
  queueWait(workerGroup: string, waitedMs: number): void {
    let child = this.waitChildren.get(workerGroup);
    if (!child) this.waitChildren.set(workerGroup, (child = this.waits.labels(workerGroup)));
    child.observe(Math.max(0, waitedMs) / 1000);
  }

  ran(type: string, state: string, ms: number): void {
    let byState = this.durationChildren.get(type);
    if (!byState) this.durationChildren.set(type, (byState = new Map()));
    let child = byState.get(state);
    if (!child) byState.set(state, (child = this.durations.labels(type, state)));
    child.observe(Math.max(0, ms) / 1000);
  }
}
