// Micro-benchmark of the in-process Bus (src/bus/memory-bus.ts), the floor
// under `porpoise all` dispatch. A scenario for run.ts
// (`bun scripts/bench/run.ts --only memory-bus`), also runnable alone:
// `bun scripts/bench/memory-bus.ts [smoke|full]`.
//
// - enqueue, then drain: heap push / pop with a backlog (pull max 64)
// - handoff: 8 parked workers (capacity 16) woken by a producer that enqueues
//   100-task ready sets; tasks/s delivered
// - ping-pong: one task at a time, enqueue → the waiting pull resolves; µs per hop
// Throughputs are one sample per repetition; ping-pong is one sample per hop.

import type { ReadyTask } from "../../src/bus/bus.ts";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";

export const name = "memory-bus";
const GROUP = "default";

function task(i: number): ReadyTask {
  return {
    taskInstanceId: i + 1,
    workflowInstanceId: 1 + (i % 97),
    slot: 0,
    epoch: 1,
    attempt: 1,
    token: `t${i}`,
    instancePriority: (Math.floor(i / 5) % 5) as ReadyTask["instancePriority"],
    priority: (i % 5) as ReadyTask["priority"],
    workerGroup: GROUP,
    enqueuedAt: 1_700_000_000_000,
  };
}

const perSecond = (n: number, ms: number) => Math.round(n / (ms / 1000));

async function enqueueThenDrain(n: number): Promise<{ enqueue: number; pull: number }> {
  const bus = new MemoryBus();
  const tasks = Array.from({ length: n }, (_, i) => task(i));
  const t0 = performance.now();
  for (const t of tasks) await bus.enqueue(GROUP, t);
  const t1 = performance.now();
  let got = 0;
  while (got < n) got += (await bus.claim([GROUP], 64)).length;
  const t2 = performance.now();
  await bus.close();
  return { enqueue: perSecond(n, t1 - t0), pull: perSecond(n, t2 - t1) };
}

async function handoff(n: number): Promise<number> {
  const bus = new MemoryBus();
  const ac = new AbortController();
  let delivered = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const workers = Array.from({ length: 8 }, async () => {
    while (!ac.signal.aborted) {
      // Not `delivered += await …`: that reads `delivered` before the await and loses other workers' counts.
      const batch = await bus.claim([GROUP], 16, ac.signal);
      delivered += batch.length;
      if (delivered >= n) done();
    }
  });
  const t0 = performance.now();
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
  return perSecond(n, t1 - t0);
}

async function pingPong(hops: number): Promise<number[]> {
  const bus = new MemoryBus();
  const samples: number[] = [];
  for (let i = 0; i < hops; i++) {
    const t0 = performance.now();
    const pulled = bus.claim([GROUP], 1);
    await bus.enqueue(GROUP, task(i));
    await pulled;
    samples.push((performance.now() - t0) * 1000);
  }
  await bus.close();
  return samples;
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const n = full ? 200_000 : 5_000;
  const reps = full ? 5 : 2;
  await enqueueThenDrain(n); // warm-up: the JIT compiles the heap and the fast path before timing
  const enqueue: number[] = [];
  const pull: number[] = [];
  const delivered: number[] = [];
  for (let r = 0; r < reps; r++) {
    const drained = await enqueueThenDrain(n);
    enqueue.push(drained.enqueue);
    pull.push(drained.pull);
    delivered.push(await handoff(n));
  }
  const hops = full ? 10_000 : 1_000;
  await pingPong(hops);
  return [
    { scenario: name, metric: `enqueue, backlog to ${n}`, unit: "ops/s", samples: enqueue },
    { scenario: name, metric: `pull max 64, draining ${n}`, unit: "tasks/s", samples: pull },
    { scenario: name, metric: `handoff to 8 waiting workers, ${n} tasks`, unit: "tasks/s", samples: delivered },
    { scenario: name, metric: "ping-pong enqueue → waiting pull", unit: "µs/hop", samples: await pingPong(hops) },
  ];
}

export default { name, run };

if (import.meta.main) {
  const rows = await run({ size: process.argv[2] === "full" ? "full" : "smoke" });
  const { summarize } = await import("./bench-types.ts");
  console.table(rows.map(summarize));
}
