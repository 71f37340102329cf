// What a master records about runs, counted when the group commit that records it is applied
// (master/group-commit.ts calls these after settle): task attempts entering a state, by task type; workflow
// runs entering a state, with their duration when they end; plus the figures read on a scrape
// (active runs, tasks waiting for a worker group nobody serves, refused task events).
//
// Label values are bounded: states and task types are fixed lists; `worker_group` is the groups
// the workflows name; `project`/`workflow` only with --metrics-workflow-labels. Children are bound
// once per (type, state) and kept in maps, so counting one op is two map reads and an add.

import type { Counter, CounterChild, Histogram, HistogramChild, MetricsRegistry } from "./registry.ts";
import { DURATION_BUCKETS } from "./registry.ts";

const TERMINAL_RUN = new Set(["SUCCESS", "FAILURE", "STOP", "PAUSE"]);

export interface RunFigures {
  /** Workflow instances this master drives now. */
  activeRuns: () => number;
  /** Attempts waiting for a worker group no live worker serves, per group. */
  waitingUnserved: () => Record<string, number>;
  /** Task events refused as stale, duplicate or forged so far (Master.staleEvents). */
  refusedEvents: () => number;
}

export class RunMetrics {
  private readonly tasks: Counter<"state" | "type">;
  private readonly runs: Counter<string>;
  private readonly durations: Histogram<string>;
  private readonly taskChildren = new Map<string, Map<string, CounterChild>>();
  private readonly runChildren = new Map<string, CounterChild>();
  private readonly durationChildren = new Map<string, HistogramChild>();
  readonly workflowLabels: boolean;

  constructor(metrics: MetricsRegistry, figures: RunFigures) {
    this.workflowLabels = metrics.options.workflowLabels;
    const runLabels = this.workflowLabels ? (["state", "project", "workflow"] as const) : (["state"] as const);
    this.tasks = metrics.counter({
      name: "porpoise_task_runs_total",
      help: "Task attempts that entered a state (DISPATCH, RUNNING_EXECUTION, SUCCESS, FAILURE, KILL, …), by task type, as recorded by the master.",
      labels: ["state", "type"],
    });
    this.runs = metrics.counter({
      name: "porpoise_workflow_runs_total",
      help: "Workflow runs that entered a state (RUNNING_EXECUTION when started, then SUCCESS, FAILURE, STOP or PAUSE), as recorded by the master.",
      labels: runLabels,
    });
    this.durations = metrics.histogram({
      name: "porpoise_workflow_run_duration_seconds",
      help: "Duration of ended workflow runs, from start to end, in seconds, by final state.",
      labels: runLabels,
      buckets: DURATION_BUCKETS,
    });
    metrics.gauge({ name: "porpoise_workflow_active_runs", help: "Workflow runs driven by this node's master now (running, pausing or stopping).", collect: (g) => g.set(figures.activeRuns()) });
    metrics.gauge({
      name: "porpoise_tasks_waiting_unserved",
      help: "Task attempts waiting for a worker group that no live worker serves, by worker group.",
      labels: ["worker_group"],
      collect: (g) => {
        g.reset();
        for (const [group, n] of Object.entries(figures.waitingUnserved())) g.labels(group).set(n);
      },
    });
    metrics.counter({
      name: "porpoise_task_events_refused_total",
      help: "Task events (running/done reports) the master refused: stale (an older attempt, a lost lease), duplicate or forged.",
      collect: (c) => {
        c.reset();
        c.inc(figures.refusedEvents());
      },
    });
  }

  /** An applied op moved an attempt of a task of `type` into `state`. */
  taskState(type: string, state: string): void {
    let byState = this.taskChildren.get(type);
    if (!byState) this.taskChildren.set(type, (byState = new Map()));
    let child = byState.get(state);
    if (!child) byState.set(state, (child = this.tasks.labels(state, type)));
    child.inc();
  }

  /** An applied op moved a workflow run into `state`; `durationSeconds` when it ended. */
  runState(state: string, run: { project: string; workflow: string }, durationSeconds: number | null): void {
    const key = this.workflowLabels ? `${state}\u0000${run.project}\u0000${run.workflow}` : state;
    const values = this.workflowLabels ? [state, run.project, run.workflow] : [state];
    let child = this.runChildren.get(key);
    if (!child) this.runChildren.set(key, (child = this.runs.labels(...values)));
    child.inc();
    if (durationSeconds === null || !TERMINAL_RUN.has(state)) return;
    let h = this.durationChildren.get(key);
    if (!h) this.durationChildren.set(key, (h = this.durations.labels(...values)));
    h.observe(Math.max(0, durationSeconds));
  }
}
