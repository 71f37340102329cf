// Micro-benchmark of the in-process Bus (src/bus/memory-bus.ts), the floor
// under `porpoise all` dispatch: a scenario module for scripts/bench/run.ts,
// also runnable alone: `bun scripts/bench/memory-bus.ts [smoke|full]`.
//
// - enqueue, then drain: heap push / pop cost with a backlog (pull max 64)
// - handoff: 8 parked workers (capacity 16) woken by a producer; tasks/s delivered
// - ping-pong: one task at a time, enqueue → waiting pull resolves; µs per hop

import type { ReadyTask } from "../../src/bus/bus.ts";
import { MemoryBus } from "../../src/bus/memory-bus.ts";

export interface BenchRow {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
}

const GROUP = "default";

function task(i: number): ReadyTask {
  return {
    taskInstanceId: i + 1,
    workflowInstanceId: 1 + (i % 97),
    attempt: 1,
    token: `t${i}`,
    priority: (i % 5) as ReadyTask["priority"],
    workerGroup: GROUP,
    enqueuedAt: 1_700_000_000_000,
  };
}

async function enqueueThenDrain(n: number): Promise<BenchRow[]> {
  const bus = new MemoryBus();
  const tasks = Array.from({ length: n }, (_, i) => task(i));
  const t0 = performance.now();
  for (const t of tasks) await bus.enqueue(GROUP, t);
  const t1 = performance.now();
  let got = 0;
  while (got < n) got += (await bus.pull([GROUP], 64)).length;
  const t2 = performance.now();
  await bus.close();
  return [
    { scenario: "memory-bus", metric: `enqueue (backlog to ${n})`, value: Math.round(n / ((t1 - t0) / 1000)), unit: "ops/s" },
    { scenario: "memory-bus", metric: `pull max 64 (drain ${n})`, value: Math.round(n / ((t2 - t1) / 1000)), unit: "tasks/s" },
  ];
}

async function handoff(n: number): Promise<BenchRow[]> {
  const bus = new MemoryBus();
  const ac = new AbortController();
  let delivered = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const workers = Array.from({ length: 8 }, async () => {
    while (!ac.signal.aborted) {
      // Not `delivered += await …`: that reads `delivered` before the await and loses other workers' counts.
      const batch = await bus.pull([GROUP], 16, ac.signal);
      delivered += batch.length;
      if (delivered >= n) done();
    }
  });
  const t0 = performance.now();
  // The engine dispatches a ready set at a time; 100 per tick is a mid-size fan-out.
  for (let i = 0; i < n; i += 100) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(bus.enqueue(GROUP, task(j)));
    await Promise.all(batch);
  }
  await finished;
  const t1 = performance.now();
  ac.abort();
  await Promise.all(workers);
  await bus.close();
  return [{ scenario: "memory-bus", metric: `handoff to 8 waiting workers (${n})`, value: Math.round(n / ((t1 - t0) / 1000)), unit: "tasks/s" }];
}

async function pingPong(n: number): Promise<BenchRow[]> {
  const bus = new MemoryBus();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const pulled = bus.pull([GROUP], 1);
    await bus.enqueue(GROUP, task(i));
    await pulled;
  }
  const t1 = performance.now();
  await bus.close();
  return [
    { scenario: "memory-bus", metric: `ping-pong enqueue → waiting pull (${n})`, value: Math.round(((t1 - t0) * 1000) / n * 100) / 100, unit: "µs/hop" },
  ];
}

export const name = "memory-bus";

export async function run(opts: { size: "smoke" | "full" }): Promise<BenchRow[]> {
  const n = opts.size === "full" ? 1_000_000 : 20_000;
  // One short warm-up so the JIT has compiled the heap before anything is timed.
  await enqueueThenDrain(5_000);
  return [...(await enqueueThenDrain(n)), ...(await handoff(n)), ...(await pingPong(Math.min(n, 200_000)))];
}

export default { name, run };

if (import.meta.main) {
  console.table(await run({ size: process.argv[2] === "full" ? "full" : "smoke" }));
}
