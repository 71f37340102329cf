// A tiny synchronous driver for DagState tests: it carries out dispatches by asking an
// `outcome` function how each attempt ends, checks the protocol on the way (one result
// per dispatched attempt, attempts counting up, the finish action last and only once),
// and records everything so tests can assert on order and counts.

import { expect } from "bun:test";
import type { TaskState } from "../../src/core/states.ts";
import { parseWorkflowDefinition, type WorkflowDefinition, type WorkflowDefinitionInput } from "../../src/core/workflow-schema.ts";
import type { DagAction, DagRunOptions, DispatchAction } from "../../src/master/dag-actions.ts";
import { DagState } from "../../src/master/dag-state.ts";

export type TaskInput = WorkflowDefinitionInput["tasks"][number];

export function workflow(tasks: TaskInput[], name = "wf"): WorkflowDefinition {
  return parseWorkflowDefinition({ name, tasks });
}

export const noop = (name: string, deps: string[] = [], extra: Record<string, unknown> = {}): TaskInput => ({ name, type: "noop", deps, ...extra }) as TaskInput;

export type Outcome = (task: string, attempt: number) => TaskState;
export const allSucceed: Outcome = () => "SUCCESS";

export class Sim {
  readonly dag: DagState;
  readonly actions: DagAction[] = [];
  readonly dispatched: DispatchAction[] = [];
  /** Live attempts, oldest first. */
  readonly running: DispatchAction[] = [];
  readonly finished: { task: string; attempt: number; state: TaskState }[] = [];
  finish: string | null = null;

  constructor(definition: WorkflowDefinition, opts: Partial<DagRunOptions> = {}) {
    this.dag = new DagState(definition, { failureStrategy: "END", ...opts });
  }

  apply(actions: DagAction[]): DagAction[] {
    actions.forEach((action, k) => {
      this.actions.push(action);
      if (action.kind === "finish") {
        // Only a resumed PAUSE/STOP run finishes again.
        expect([null, "PAUSE", "STOP"]).toContain(this.finish);
        expect(k).toBe(actions.length - 1);
        this.finish = action.state;
      } else if (action.kind === "dispatch") {
        expect(this.running.some((r) => r.task === action.task)).toBe(false);
        this.dispatched.push(action);
        this.running.push(action);
      }
    });
    return actions;
  }

  start(): DagAction[] {
    return this.apply(this.dag.start());
  }

  /** Ends one running attempt (the oldest, or the named task's). */
  complete(task: string, state: TaskState): DagAction[] {
    const k = this.running.findIndex((r) => r.task === task);
    expect(k).toBeGreaterThanOrEqual(0);
    const [attempt] = this.running.splice(k, 1);
    this.finished.push({ task, attempt: attempt!.attempt, state });
    return this.apply(this.dag.onTaskFinished(task, { state, attempt: attempt!.attempt }));
  }

  /** Runs until nothing is running, ending each attempt as `outcome` says (FIFO). */
  runAll(outcome: Outcome = allSucceed, limit = 1_000_000): this {
    let steps = 0;
    while (this.running.length > 0) {
      if (++steps > limit) throw new Error("too many steps");
      const next = this.running[0]!;
      this.complete(next.task, outcome(next.task, next.attempt));
    }
    return this;
  }

  kinds(kind: DagAction["kind"]): DagAction[] {
    return this.actions.filter((a) => a.kind === kind);
  }

  skipped(): string[] {
    return this.actions.filter((a) => a.kind === "skip").map((a) => (a as { task: string }).task);
  }

  dispatchedNames(): string[] {
    return this.dispatched.map((d) => d.task);
  }

  runningNames(): string[] {
    return this.running.map((r) => r.task);
  }
}
