// Parse + validate workflow definitions of 100, 1,000 and 10,000 tasks: a chain, a wide
// fan-out (one root, everything else depends on it) and a random DAG (~3 deps per task).
// Input is the object an API body or YAML file becomes; the timed call is
// parseWorkflowDefinition (zod schema + DAG checks + cross-references). `ms/1k tasks`
// stays flat across sizes when validation is linear.
//
// Also runnable alone: `bun scripts/bench/validate-dag.ts [smoke|full]`.

import { validateDag } from "../../src/core/dag.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { seededRandom, timeRuns, type BenchRow, type BenchSize } from "./bench-types.ts";

export const name = "validate-dag";

type Shape = "chain" | "wide" | "random";

function shellTask(i: number, deps: string[]): Record<string, unknown> {
  return {
    name: `task-${i}`,
    type: "shell",
    script: `echo "step ${i} for \${region}"`,
    deps,
    retries: 1,
    retryInterval: "30s",
    timeout: "10m",
  };
}

export function definition(shape: Shape, size: number): Record<string, unknown> {
  const random = seededRandom(size);
  const tasks: Record<string, unknown>[] = [];
  for (let i = 0; i < size; i++) {
    let deps: string[] = [];
    if (shape === "chain" && i > 0) deps = [`task-${i - 1}`];
    if (shape === "wide" && i > 0) deps = ["task-0"];
    if (shape === "random" && i > 0) {
      const picked = new Set<number>();
      for (let k = 0; k < 3; k++) picked.add(Math.floor(random() * i));
      deps = [...picked].map((j) => `task-${j}`);
    }
    tasks.push(shellTask(i, deps));
  }
  return { name: `bench-${shape}-${size}`, params: { region: "eu" }, timeout: "2h", tasks };
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  // Fewer runs for bigger inputs keep the whole scenario under ten seconds.
  const plan: [number, number][] = opts.size === "full" ? [[100, 200], [1_000, 50], [10_000, 20]] : [[100, 5], [1_000, 3]];
  const rows: BenchRow[] = [];
  for (const shape of ["chain", "wide", "random"] as const) {
    for (const [size, runs] of plan) {
      const input = definition(shape, size);
      const edges = (input.tasks as { deps: string[] }[]).reduce((sum, t) => sum + t.deps.length, 0);
      Bun.gc(true);
      const samples = timeRuns(() => parseWorkflowDefinition(input), runs, opts.size === "full" ? 3 : 1);
      const label = `${shape} ${size} tasks, ${edges} edges`;
      rows.push({ scenario: name, metric: `${label}: parse+validate`, unit: "ms", samples });
      rows.push({ scenario: name, metric: `${label}: per 1,000 tasks`, unit: "ms", samples: samples.map((ms) => (ms * 1000) / size) });
      if (size === plan.at(-1)![0]) {
        // The graph part alone, to show where the time goes.
        const tasks = parseWorkflowDefinition(input).tasks;
        rows.push({ scenario: name, metric: `${label}: validateDag only`, unit: "ms", samples: timeRuns(() => validateDag(tasks), runs) });
      }
    }
  }
  return rows;
}

export default { name, run };

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
