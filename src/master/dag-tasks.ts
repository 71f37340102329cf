// The per-task bookkeeping of DagState: typed arrays indexed by `buildGraph` index, the
// status counts behind `snapshot()`, and the reads. The rules that change them are in dag-state.ts.

import { buildGraph, predecessors, type DagGraph } from "../core/dag.ts";
import { ValidationError } from "../core/errors.ts";
import type { WorkflowState } from "../core/states.ts";
import type { TaskDefinition } from "../core/task-types.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import { branchTargets } from "./branching.ts";
import type { DagRunOptions, DagSnapshot, TaskStatus } from "./dag-actions.ts";
import { ACTIVE, BLOCKED, FAILED, HELD, NOT_IN_RUN, PRIORITY_RANK, SKIPPED_BRANCH, SKIPPED_FORBIDDEN, STATUS_NAMES, SUCCEEDED, WAITING } from "./dag-codes.ts";
import { runScope } from "./run-scope.ts";

export class DagTasks {
  protected readonly graph: DagGraph;
  protected readonly tasks: readonly TaskDefinition[];
  protected readonly opts: DagRunOptions;
  protected readonly status: Uint8Array;
  protected readonly statusCount = new Int32Array(STATUS_NAMES.length);
  protected readonly pending: Int32Array; // upstream tasks in the run not finished yet
  protected readonly inRunPreds: Int32Array;
  protected readonly skippedPreds: Int32Array;
  protected readonly failedPreds: Int32Array;
  protected readonly blockingPreds: Int32Array;
  protected readonly attempt: Int32Array;
  protected readonly failures: Int32Array; // failed attempts that used up a retry
  protected readonly sent: Uint8Array; // the outcome a finished task passed downstream
  protected readonly heldKind: Uint8Array;
  protected readonly unhandled: Uint8Array;
  protected readonly killSent: Uint8Array;
  protected readonly priority: Uint8Array;
  protected readonly active = new Set<number>();
  protected readonly held = new Set<number>();
  protected readonly targets = new Map<number, ReadonlySet<number>>();
  protected readonly chosen = new Map<number, ReadonlySet<number>>();
  protected unhandledFailures = 0;
  protected state: WorkflowState = "SUBMITTED_SUCCESS";

  constructor(definition: WorkflowDefinition, opts: DagRunOptions) {
    this.tasks = definition.tasks;
    this.opts = opts;
    this.graph = buildGraph(definition.tasks);
    const n = this.graph.size;
    const inRun = runScope(this.graph, opts.startTasks, opts.dependType);
    this.status = new Uint8Array(n);
    this.pending = new Int32Array(n);
    this.inRunPreds = new Int32Array(n);
    this.skippedPreds = new Int32Array(n);
    this.failedPreds = new Int32Array(n);
    this.blockingPreds = new Int32Array(n);
    this.attempt = new Int32Array(n);
    this.failures = new Int32Array(n);
    this.sent = new Uint8Array(n);
    this.heldKind = new Uint8Array(n);
    this.unhandled = new Uint8Array(n);
    this.killSent = new Uint8Array(n);
    this.priority = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const task = this.tasks[i]!;
      this.priority[i] = PRIORITY_RANK[task.priority];
      if (!inRun[i]) continue;
      this.status[i] = WAITING;
      let count = 0;
      for (const p of predecessors(this.graph, i)) if (inRun[p]) count++;
      this.pending[i] = this.inRunPreds[i] = count;
      if (task.type === "conditions" || task.type === "switch") {
        this.targets.set(i, new Set(branchTargets(task).map((name) => this.graph.indexOf.get(name)!)));
      }
    }
    for (let i = 0; i < n; i++) this.statusCount[this.status[i]!]!++;
  }

  // ── Reads ────────────────────────────────────────────────────────────────────────────

  get workflowState(): WorkflowState {
    return this.state;
  }

  statusOf(name: string): TaskStatus {
    return STATUS_NAMES[this.status[this.indexOf(name)]!]!;
  }

  /** The latest attempt number of a task (0 before its first). */
  attemptOf(name: string): number {
    return this.attempt[this.indexOf(name)]!;
  }

  snapshot(): DagSnapshot {
    const c = this.statusCount;
    const skipped = c[SKIPPED_FORBIDDEN]! + c[SKIPPED_BRANCH]!;
    const done = c[SUCCEEDED]! + c[FAILED]! + skipped + c[BLOCKED]!;
    return {
      state: this.state,
      total: this.graph.size - c[NOT_IN_RUN]!,
      done,
      succeeded: c[SUCCEEDED]!,
      failed: c[FAILED]!,
      skipped,
      blocked: c[BLOCKED]!,
      running: c[ACTIVE]!,
      waiting: c[WAITING]! + c[HELD]!,
      runningTasks: [...this.active].map((i) => this.graph.names[i]!),
    };
  }

  protected indexOf(name: string): number {
    const i = this.graph.indexOf.get(name);
    if (i === undefined) throw new ValidationError(`unknown task "${name}"; name a task of this workflow`);
    return i;
  }

  protected setStatus(i: number, status: number): void {
    const old = this.status[i]!;
    this.statusCount[old]!--;
    this.statusCount[status]!++;
    this.status[i] = status;
    if (old === ACTIVE) this.active.delete(i);
    else if (old === HELD) this.held.delete(i);
    if (status === ACTIVE) this.active.add(i);
    else if (status === HELD) this.held.add(i);
  }
}
