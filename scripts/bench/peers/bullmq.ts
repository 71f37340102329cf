// BullMQ, the Redis peer, in the shapes of porpoise's all-* scenarios, run in this (bun)
// process against the shared Redis under a throwaway key prefix (SCAN + UNLINK afterwards).
// Handlers are no-ops unless said. Clock: performance.now() in this process throughout.
//
// What is timed:
// - chain-40: a job's handler adds the next job (i+1) before returning. `total` = handler 1
//   started → handler 40 returned (as porpoise's: t0 start → t39 end); `ms per edge` =
//   total / 39, one sample per chain; plus every edge alone: handler i returned → handler
//   i+1 started (BullMQ moving job i to completed and picking up i+1). Concurrency 1.
// - trigger: one job at a time: `queue.add` called → handler started; the next trigger
//   waits for the previous job's "completed", so each meets an idle worker. Concurrency 1.
// - throughput: 200 × 100 = 20,000 jobs, one `addBulk` per 100, all 200 sent at once while
//   the worker is already running; first addBulk called → last job's "completed" event
//   (BullMQ's Redis write of the completion done). Concurrency THROUGHPUT_CONCURRENCY.
// - fan-in (1 → 100 → 1): a "source" job whose handler adds a FlowProducer tree: parent
//   "sink" with 100 children, all on one queue (BullMQ runs the children, and moves the
//   parent to waiting when the last child completes). Timed: the last child's handler
//   returned → the sink's handler started. Concurrency FAN_IN_CONCURRENCY.
// - shell: 1,000 jobs (addBulk of 100) whose handler spawns `true` (Bun.spawn, awaited);
//   first add → last completed. Concurrency SHELL_CONCURRENCY.
// - cron: not measured (skipped).
//
// Jobs are removed on completion (removeOnComplete: true), the usual production setting.
// The shared Redis runs with appendonly=no: BullMQ's "completed" is not durable the way
// porpoise's (and graphile-worker's) commit is.

import type { Job } from "bullmq";
import { compared, type BenchRow, type BenchSize } from "../bench-types.ts";
import { CpuTally, cpuPerTaskUs, startMachineCpu } from "../machine-cpu.ts";
import { CHAIN_LENGTH, WARMUPS, deferred, deleteDeadRedisPrefixes, deleteRedisPrefix, peerSizes, redisConnection, redisRoundTrips, runParts, runTag, spawnTrue, within, type PeerSizes } from "./peer-common.ts";

export const name = "bullmq";

// Concurrency per shape, picked on the 2-core box (see the commit that set them).
const THROUGHPUT_CONCURRENCY = 100;
const FAN_IN_CONCURRENCY = 100;
const SHELL_CONCURRENCY = 8;
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 1000 };

type Bull = typeof import("bullmq");
type Connection = Awaited<ReturnType<typeof redisConnection>>;

interface Ctx {
  bull: Bull;
  connection: Connection;
  prefix: string;
}

/** One queue + one worker for a scenario; `close` shuts both (and waits for the worker). */
function queueAndWorker<D>(ctx: Ctx, queueName: string, concurrency: number, handler: (job: Job<D>) => Promise<unknown>) {
  const queue = new ctx.bull.Queue<D>(queueName, { connection: ctx.connection, prefix: ctx.prefix, defaultJobOptions: JOB_OPTIONS });
  const worker = new ctx.bull.Worker<D>(queueName, handler, { connection: ctx.connection, prefix: ctx.prefix, concurrency });
  worker.on("error", (err) => console.error(`bullmq worker ${queueName}: ${err.message}`));
  return {
    queue,
    worker,
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

async function chain(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  let starts: number[] = [];
  let ends: number[] = [];
  let done = deferred<void>();
  const { queue, worker, close } = queueAndWorker<{ i: number }>(ctx, "chain", 1, async (job) => {
    const i = job.data.i;
    starts[i] = performance.now();
    if (i + 1 < CHAIN_LENGTH) await queue.add("step", { i: i + 1 });
    ends[i] = performance.now();
  });
  worker.on("completed", (job) => {
    if (job.data.i === CHAIN_LENGTH - 1) done.resolve();
  });
  try {
    await worker.waitUntilReady();
    const totals: number[] = [];
    const edges: number[] = [];
    for (let r = -WARMUPS.chain; r < sizes.chainRuns; r++) {
      starts = [];
      ends = [];
      done = deferred<void>();
      await queue.add("step", { i: 0 });
      await within(30_000, "chain-40", done.promise);
      if (r < 0) continue;
      totals.push(ends[CHAIN_LENGTH - 1]! - starts[0]!);
      for (let i = 1; i < CHAIN_LENGTH; i++) edges.push(starts[i]! - ends[i - 1]!);
    }
    const note = "handler adds job i+1; concurrency 1";
    return [
      compared("chainPerEdge", name, "bullmq", { samples: totals.map((t) => t / (CHAIN_LENGTH - 1)), note }),
      compared("chainTotal", name, "bullmq", { samples: totals, note }),
      { scenario: name, metric: "chain-40: handler returned → next handler started (each edge)", unit: "ms", samples: edges },
    ];
  } finally {
    await close();
  }
}

async function trigger(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  let started = deferred<number>();
  let completed = deferred<void>();
  const { queue, worker, close } = queueAndWorker<{ n: number }>(ctx, "trigger", 1, async () => {
    started.resolve(performance.now());
  });
  worker.on("completed", () => completed.resolve());
  try {
    await worker.waitUntilReady();
    const samples: number[] = [];
    for (let n = -WARMUPS.trigger; n < sizes.triggers; n++) {
      started = deferred<number>();
      completed = deferred<void>();
      const t0 = performance.now();
      await queue.add("one", { n });
      const t1 = await within(10_000, "trigger", started.promise);
      await within(10_000, "trigger completion", completed.promise);
      if (n >= 0) samples.push(t1 - t0);
    }
    return [compared("trigger", name, "bullmq", { samples, note: "queue.add → handler start; concurrency 1" })];
  } finally {
    await close();
  }
}

/** Adds batches × batchSize jobs (one addBulk per batch, all in flight at once); jobs/s from the first add to the last completion, per run. */
async function drain(ctx: Ctx, queueName: string, concurrency: number, batches: number, batchSize: number, handler: () => Promise<void>, runs: number, cpu?: CpuTally): Promise<number[]> {
  const total = batches * batchSize;
  let finished = 0;
  let done = deferred<number>();
  const { queue, worker, close } = queueAndWorker<{ n: number }>(ctx, queueName, concurrency, handler);
  worker.on("completed", () => {
    if (++finished === total) done.resolve(performance.now());
  });
  try {
    await worker.waitUntilReady();
    const perSecond: number[] = [];
    for (let r = 0; r < runs; r++) {
      finished = 0;
      done = deferred<number>();
      const since = startMachineCpu();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: batches }, (_, b) =>
          queue.addBulk(Array.from({ length: batchSize }, (_, k) => ({ name: queueName, data: { n: b * batchSize + k } }))),
        ),
      );
      const t1 = await within(300_000, `${queueName} (${finished}/${total} completed)`, done.promise);
      cpu?.add(since());
      perSecond.push((total * 1000) / (t1 - t0));
    }
    return perSecond;
  } finally {
    await close();
  }
}

async function throughput(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const cpu = new CpuTally();
  const samples = await drain(ctx, "throughput", THROUGHPUT_CONCURRENCY, sizes.batches, sizes.batchSize, async () => {}, sizes.throughputRuns, cpu);
  const rows = [compared("throughput", name, "bullmq", { samples, note: `${sizes.batches}× addBulk(${sizes.batchSize}) at once; concurrency ${THROUGHPUT_CONCURRENCY}` })];
  if (cpu.seconds !== null) {
    const note = "CPU of every process of the machine over the runs (/proc/stat) ÷ jobs: the bench process (producer and worker) and Redis";
    rows.push(compared("machineCpuPerTask", name, "bullmq", { value: cpuPerTaskUs(cpu.seconds, samples.length * sizes.batches * sizes.batchSize), note }));
  }
  return rows;
}

async function shell(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const batchSize = Math.min(100, sizes.shellJobs);
  const samples = await drain(ctx, "shell", SHELL_CONCURRENCY, Math.ceil(sizes.shellJobs / batchSize), batchSize, spawnTrue, 1);
  return [compared("shell", name, "bullmq", { samples, note: `handler: Bun.spawn(["true"]); concurrency ${SHELL_CONCURRENCY}` })];
}

async function fanIn(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const flow = new ctx.bull.FlowProducer({ connection: ctx.connection, prefix: ctx.prefix });
  let lastChildEnd = 0;
  let sinkStart = deferred<number>();
  const children = sizes.fanInChildren;
  const { queue, worker, close } = queueAndWorker<{ role: "source" | "child" | "sink" }>(ctx, "fanin", FAN_IN_CONCURRENCY, async (job) => {
    if (job.data.role === "source") {
      await flow.add({
        name: "sink",
        queueName: "fanin",
        data: { role: "sink" },
        opts: JOB_OPTIONS,
        children: Array.from({ length: children }, () => ({ name: "child", queueName: "fanin", data: { role: "child" }, opts: JOB_OPTIONS })),
      });
    } else if (job.data.role === "child") {
      lastChildEnd = Math.max(lastChildEnd, performance.now());
    } else {
      sinkStart.resolve(performance.now());
    }
  });
  try {
    await worker.waitUntilReady();
    const samples: number[] = [];
    for (let r = -WARMUPS.fanIn; r < sizes.fanInRuns; r++) {
      lastChildEnd = 0;
      sinkStart = deferred<number>();
      await queue.add("source", { role: "source" });
      const t1 = await within(30_000, "fan-in", sinkStart.promise);
      if (r >= 0) samples.push(t1 - lastChildEnd);
    }
    const note = `source job's handler adds a FlowProducer tree (sink parent, ${children} children); concurrency ${FAN_IN_CONCURRENCY}`;
    return [compared("fanIn", name, "bullmq", { samples, note })];
  } finally {
    await close();
    await flow.close();
  }
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const sizes = peerSizes(opts.size);
  const connection = await redisConnection();
  // Loaded here, not at the top, so that listing or running other scenarios never needs BullMQ.
  const bull = await import("bullmq");
  const head = "porpoise-bench-bullmq-";
  await deleteDeadRedisPrefixes(head);
  const ctx: Ctx = { bull, connection, prefix: `${head}${runTag()}` };
  try {
    return await runParts(name, [
      ["yardstick", async () => [await redisRoundTrips(name, 200)]],
      ["chain-40", () => chain(ctx, sizes)],
      ["trigger", () => trigger(ctx, sizes)],
      ["throughput", () => throughput(ctx, sizes)],
      ["fan-in", () => fanIn(ctx, sizes)],
      ["shell", () => shell(ctx, sizes)],
    ]);
  } finally {
    await deleteRedisPrefix(ctx.prefix);
  }
}

if (import.meta.main) {
  const { summarize } = await import("../bench-types.ts");
  console.table((await run({ size: process.argv.includes("--smoke") ? "smoke" : "full" })).map(summarize));
}
