// The master's group commit: one TaskInstanceRepository.applyBatch holding N completions
// (fenced updates of the attempts the previous batch inserted) and N inserts of new attempts,
// on SQLite (file, WAL) and on Postgres (a throwaway database). Reports the whole batch and
// the cost per op, plus one-op batches (complete()) for the unbatched latency.
//
// Also runnable alone: `bun scripts/bench/store-batch.ts [smoke|full]`.

import type { Dialect, Store, TaskAttemptInsert, TaskBatchOp } from "../../src/store/store.ts";
import { freshStore } from "../../test/helpers/stores.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";

export const name = "store-batch";

async function setup(store: Store): Promise<number> {
  const system = { userId: null, userName: "bench" };
  const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, system);
  const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, system);
  const { workflow } = await store.workflows.create(
    project.id,
    { name: "bench", description: "", tasks: [{ name: "a", type: "noop" }] } as never,
    system,
  );
  const wi = await store.instances.create({ workflowId: workflow.id, slot: 0, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
  return wi.id;
}

function insert(workflowInstanceId: number, task: number, attempt: number): TaskAttemptInsert {
  return {
    op: "insert",
    workflowInstanceId,
    taskName: `task-${task}`,
    taskType: "shell",
    attempt,
    state: "DISPATCH",
    dispatchToken: `${task}.${attempt}.${Math.random().toString(36).slice(2)}`,
    slot: 0,
    epoch: 1,
    submitTime: new Date(),
    params: { day: "2024-05-01" },
  };
}

async function measure(dialect: Dialect, size: BenchSize): Promise<BenchRow[]> {
  const perBatch = size === "smoke" ? 50 : 1000;
  const runs = size === "smoke" ? 2 : 10;
  await using store = await freshStore(dialect);
  const wi = await setup(store);
  // Attempts in flight: the previous batch's inserts, completed by the next batch.
  let inFlight: { id: number; attempt: number; token: string; task: number }[] = [];
  const batch = async (attempt: number) => {
    const inserts = Array.from({ length: perBatch }, (_, task) => insert(wi, task, attempt));
    const completions: TaskBatchOp[] = inFlight.map((a) => ({
      op: "update",
      id: a.id,
      attempt: a.attempt,
      token: a.token,
      from: ["DISPATCH", "RUNNING_EXECUTION"],
      to: "SUCCESS",
      set: { endTime: new Date(), exitCode: 0, output: { rows: "1" } },
    }));
    const t0 = performance.now();
    const outcomes = await store.taskInstances.applyBatch([...completions, ...inserts]);
    const ms = performance.now() - t0;
    if (outcomes.some((o) => o.outcome !== "applied")) throw new Error("bench batch: an op was not applied");
    inFlight = inserts.map((op, i) => {
      const o = outcomes[completions.length + i]!;
      return { id: o.outcome === "applied" ? o.id : -1, attempt: op.attempt, token: op.dispatchToken!, task: i };
    });
    return { ms, ops: completions.length + inserts.length };
  };
  await batch(1); // warm-up: fills inFlight
  const batchMs: number[] = [];
  const perOpUs: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { ms, ops } = await batch(r + 2);
    batchMs.push(ms);
    perOpUs.push((ms * 1000) / ops);
  }
  const single: number[] = [];
  for (const a of inFlight.slice(0, size === "smoke" ? 10 : 200)) {
    const t0 = performance.now();
    const result = await store.taskInstances.complete({ id: a.id, attempt: a.attempt, token: a.token, state: "SUCCESS", endTime: new Date() });
    single.push((performance.now() - t0) * 1000);
    if (result !== "applied") throw new Error("bench complete: not applied");
  }
  const label = `${perBatch} completions + ${perBatch} inserts`;
  return [
    { scenario: name, metric: `${dialect}: batch of ${label}`, unit: "ms", samples: batchMs },
    { scenario: name, metric: `${dialect}: per op in that batch`, unit: "µs", samples: perOpUs },
    { scenario: name, metric: `${dialect}: one completion alone (complete())`, unit: "µs", samples: single },
  ];
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  return [...(await measure("sqlite", opts.size)), ...(await measure("postgres", opts.size))];
}

if (import.meta.main) {
  const size = (process.argv[2] ?? "full") as BenchSize;
  for (const row of await run({ size })) {
    const values = [...(row.samples ?? [])].sort((a, b) => a - b);
    console.log(`${row.metric}: median ${values[values.length >> 1]?.toFixed(1)} ${row.unit} (${values.length} runs)`);
  }
}
