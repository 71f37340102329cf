// Parameters a task runs with, resolved by the master when it creates the attempt and stored
// on the attempt row (so a worker, a retry and the API all see the same values). Priority,
// highest first: startup params > the task's own params > upstream OUT params > global
// params > project params. Upstream OUT params accumulate along the DAG (DolphinScheduler's
// var pool): a task sees the OUT params of every task upstream of it, nearer ones winning.
// `${}` references inside values are left for the executor (the next issue refines this).

import type { DagGraph } from "../core/dag.ts";
import { predecessors } from "../core/dag.ts";

/** Output keys the engine keeps for itself (a switch/conditions decision); never passed downstream. */
export const BRANCH_KEY = "porpoise.branch";

export class VarPool {
  private readonly outputs = new Map<number, Record<string, string>>();
  private readonly memo = new Map<number, Record<string, string>>();

  constructor(private readonly graph: DagGraph) {}

  setOutput(index: number, output: Record<string, string> | null): void {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(output ?? {})) if (k !== BRANCH_KEY) clean[k] = v;
    this.outputs.set(index, clean);
    this.memo.delete(index);
  }

  /** What a task receives from upstream: the merged pools of its predecessors. */
  upstreamOf(index: number): Record<string, string> {
    const merged: Record<string, string> = {};
    for (const p of predecessors(this.graph, index)) Object.assign(merged, this.poolOf(p));
    return merged;
  }

  private poolOf(index: number): Record<string, string> {
    const known = this.memo.get(index);
    if (known) return known;
    // Iterative post-order over the ancestors not memoised yet (a 10,000-task chain must not recurse).
    const stack: [number, boolean][] = [[index, false]];
    while (stack.length > 0) {
      const [i, expanded] = stack.pop()!;
      if (this.memo.has(i)) continue;
      if (!expanded) {
        stack.push([i, true]);
        for (const p of predecessors(this.graph, i)) if (!this.memo.has(p)) stack.push([p, false]);
        continue;
      }
      const pool: Record<string, string> = {};
      for (const p of predecessors(this.graph, i)) Object.assign(pool, this.memo.get(p));
      Object.assign(pool, this.outputs.get(i));
      this.memo.set(i, pool);
    }
    return this.memo.get(index)!;
  }
}

export function resolveParams(layers: {
  project: Readonly<Record<string, string>>;
  global: Readonly<Record<string, string>>;
  upstream: Readonly<Record<string, string>>;
  local: Readonly<Record<string, string>>;
  startup: Readonly<Record<string, string>>;
}): Record<string, string> {
  return { ...layers.project, ...layers.global, ...layers.upstream, ...layers.local, ...layers.startup };
}
