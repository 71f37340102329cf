// One group commit of the master: every store op produced by the events handled together,
// applied in ONE applyBatch transaction, and the effects that must only happen once those
// ops are durable (bus enqueues, kill broadcasts, timers, notifications) — docs/architecture.md §3.7.

import type { TaskBatchOp, TaskBatchOutcome } from "../store/store.ts";

export type OutcomeHandler = (outcome: TaskBatchOutcome) => void;

export class Batch {
  readonly ops: TaskBatchOp[] = [];
  private readonly handlers: (OutcomeHandler | undefined)[] = [];
  private readonly owners: (number | null)[] = [];
  private readonly effects: (() => void)[] = [];
  private readonly aborts: (() => void)[] = [];
  private outcomes: readonly TaskBatchOutcome[] | null = null;

  /**
   * `owner` is the workflow instance the op belongs to: a stale op abandons its driver. null: no
   * driver's memory depends on it (a command's done-mark).
   */
  add(owner: number | null, op: TaskBatchOp, onOutcome?: OutcomeHandler): void {
    this.ops.push(op);
    this.owners.push(owner);
    this.handlers.push(onOutcome);
  }

  /** Runs when the batch is given up without an outcome (its write failed, or the master stopped during an outage). */
  onAbort(fn: () => void): void {
    this.aborts.push(fn);
  }

  abort(): void {
    for (const fn of this.aborts.splice(0)) fn();
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
    this.outcomes = outcomes;
    const stale = new Set<number>();
    outcomes.forEach((outcome, i) => {
      const owner = this.owners[i];
      if (outcome.outcome !== "applied" && owner !== null && owner !== undefined) stale.add(owner);
      this.handlers[i]?.(outcome);
    });
    return stale;
  }

  /** After settle: whether every op at these indexes was applied. */
  applied(indexes: readonly number[]): boolean {
    const outcomes = this.outcomes;
    return outcomes !== null && indexes.every((i) => outcomes[i]?.outcome === "applied");
  }

  owned(): Set<number> {
    return new Set(this.owners.filter((o): o is number => o !== null));
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
