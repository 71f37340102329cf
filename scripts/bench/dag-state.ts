// DagState (src/master/dag-state.ts) alone, no I/O: how many task-finished events per
// second the pure engine absorbs, each producing the next actions. Shapes: a chain
// (one dispatch per event), wide (1 → N → 1: one event fans out to N dispatches, then
// N events each O(1) until the sink), and a random DAG with ~3 deps per task.
// `events/s` stays flat across sizes when the engine is linear.
//
// Also runnable alone: `bun scripts/bench/dag-state.ts [smoke|full]`.

import { parseWorkflowDefinition, type WorkflowDefinition } from "../../src/core/workflow-schema.ts";
import type { DispatchAction } from "../../src/master/dag-actions.ts";
import { DagState } from "../../src/master/dag-state.ts";
import { seededRandom, type BenchRow, type BenchSize } from "./bench-types.ts";

export const name = "dag-state";

type Shape = "chain" | "wide" | "random";

function definition(shape: Shape, size: number): WorkflowDefinition {
  const random = seededRandom(size);
  const tasks: { name: string; type: "noop"; deps: string[] }[] = [];
  for (let i = 0; i < size; i++) {
    let deps: string[] = [];
    if (shape === "chain" && i > 0) deps = [`t${i - 1}`];
    if (shape === "wide" && i > 0) deps = i === size - 1 ? tasks.slice(1).map((t) => t.name) : ["t0"];
    if (shape === "random" && i > 0) deps = [...new Set([0, 1, 2].map(() => `t${Math.floor(random() * i)}`))];
    tasks.push({ name: `t${i}`, type: "noop", deps });
  }
  return parseWorkflowDefinition({ name: `bench-${shape}-${size}`, tasks });
}

/** Runs the whole workflow, every task succeeding; milliseconds for start + all events. */
function runOnce(def: WorkflowDefinition): number {
  const t0 = performance.now();
  const dag = new DagState(def, { failureStrategy: "END" });
  const queue: DispatchAction[] = [];
  const take = (actions: ReturnType<DagState["start"]>) => {
    for (const a of actions) if (a.kind === "dispatch") queue.push(a);
  };
  take(dag.start());
  for (let head = 0; head < queue.length; head++) {
    const d = queue[head]!;
    take(dag.onTaskFinished(d.task, { state: "SUCCESS", attempt: d.attempt }));
  }
  const ms = performance.now() - t0;
  if (dag.workflowState !== "SUCCESS" || queue.length !== def.tasks.length) throw new Error(`run did not complete: ${dag.workflowState}, ${queue.length} dispatches`);
  return ms;
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const plan: [number, number][] = opts.size === "full" ? [[1_000, 50], [10_000, 20]] : [[1_000, 3]];
  const rows: BenchRow[] = [];
  for (const shape of ["chain", "wide", "random"] as const) {
    for (const [size, runs] of plan) {
      const def = definition(shape, size);
      for (let i = 0; i < (opts.size === "full" ? 3 : 1); i++) runOnce(def);
      Bun.gc(true);
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) samples.push(runOnce(def));
      const label = `${shape} ${size} tasks`;
      rows.push({ scenario: name, metric: `${label}: whole run`, unit: "ms", samples });
      rows.push({ scenario: name, metric: `${label}: events/s`, unit: "events/s", samples: samples.map((ms) => (size * 1000) / ms) });
    }
  }
  return rows;
}

export default { name, run };

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
