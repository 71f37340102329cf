// One group commit of the master: every store op produced by the events handled together,
// applied in ONE applyBatch transaction, and the effects that must only happen once those
// ops are durable (bus enqueues, kill broadcasts, timers, notifications) — docs/architecture.md §3.7.

import type { TaskBatchOp, TaskBatchOutcome } from "../store/store.ts";

export type OutcomeHandler = (outcome: TaskBatchOutcome) => void;

export class Batch {
  readonly ops: TaskBatchOp[] = [];
  private readonly handlers: (OutcomeHandler | undefined)[] = [];
  private readonly owners: number[] = [];
  private readonly effects: (() => void)[] = [];

  /** `owner` is the workflow instance the op belongs to: a stale op abandons its driver. */
  add(owner: number, op: TaskBatchOp, onOutcome?: OutcomeHandler): void {
    this.ops.push(op);
    this.owners.push(owner);
    this.handlers.push(onOutcome);
  }

  /** Runs after the commit, in the order added. */
  after(effect: () => void): void {
    this.effects.push(effect);
  }

  get empty(): boolean {
    return this.ops.length === 0 && this.effects.length === 0;
  }

  /** Calls the outcome handlers; returns the instances that had a stale op. */
  settle(outcomes: readonly TaskBatchOutcome[]): Set<number> {
    const stale = new Set<number>();
    outcomes.forEach((outcome, i) => {
      if (outcome.outcome !== "applied") stale.add(this.owners[i]!);
      this.handlers[i]?.(outcome);
    });
    return stale;
  }

  owned(): Set<number> {
    return new Set(this.owners);
  }

  runEffects(onError: (err: unknown) => void): void {
    for (const effect of this.effects) {
      try {
        effect();
      } catch (err) {
        onError(err);
      }
    }
  }
}
