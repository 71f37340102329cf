// BullMQ, the Redis peer, in the same shapes as porpoise's scenarios, run in this (bun)
// process against the shared Redis under a throwaway key prefix (deleted afterwards).
// Handlers are no-ops unless said. Clock: performance.now() in this process throughout.
//
// What is timed:
// - chain-40: a job's handler adds the next job (i+1) before returning; `total` = first
//   `queue.add` called → job 40 completed (worker "completed" event); `ms per edge` =
//   total / 39, one sample per chain. Also per edge: handler i returned → handler i+1
//   started (includes BullMQ moving job i to completed and picking up i+1).
//   Worker concurrency 1 (the chain has one job ready at a time).
// - trigger: one job at a time: `queue.add` called → handler started; the next trigger
//   waits for the previous job to complete, so each one meets an idle worker. 10 untimed
//   warm-ups first. Concurrency 1.
// - throughput: `batches` × `batchSize` (200 × 100 = 20,000) jobs, each batch one
//   `addBulk`, all batches sent at once while the worker is already running; first addBulk
//   called → last job completed. Concurrency THROUGHPUT_CONCURRENCY.
// - fan-in (1 → 100 → 1): a source job whose handler adds a FlowProducer tree: parent
//   "sink" with 100 children (BullMQ runs children first, the parent once the last child
//   completed). Timed: last child's handler returned → sink handler started.
// - shell: 1,000 jobs (addBulk of 100) whose handler spawns `true` (Bun.spawn, awaited);
//   first add → last completed. Concurrency SHELL_CONCURRENCY.
// - cron: not measured (BullMQ repeatable jobs; skipped, see the report in issue 5).
//
// Jobs are removed on completion (removeOnComplete: true), the usual production setting;
// keeping them costs BullMQ ~N% (see THROUGHPUT note). Note the shared Redis runs with
// appendonly=no: BullMQ's "done" here is not durable the way porpoise's is.

import type { Job } from "bullmq";
import type { BenchRow, BenchSize } from "../bench-types.ts";
import {
  CHAIN_LENGTH,
  deferred,
  deleteRedisPrefix,
  peerSizes,
  redisConnection,
  runTag,
  spawnTrue,
  within,
  type PeerRow,
  type PeerSizes,
} from "./peer-common.ts";

export const name = "bullmq";

/** Measured on the 2-core box (bun, 20,000 jobs): see the commit adding this constant. */
const THROUGHPUT_CONCURRENCY = 200;
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

function row(shape: string, metric: string, unit: string, samples: number[]): PeerRow {
  return { scenario: name, system: "bullmq", shape, metric, unit, samples };
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
  let done = deferred<number>();
  const { queue, worker, close } = queueAndWorker<{ i: number }>(ctx, "chain", 1, async (job) => {
    const i = job.data.i;
    starts[i] = performance.now();
    if (i + 1 < CHAIN_LENGTH) await queue.add("step", { i: i + 1 });
    ends[i] = performance.now();
  });
  worker.on("completed", (job) => {
    if (job.data.i === CHAIN_LENGTH - 1) done.resolve(performance.now());
  });
  try {
    await worker.waitUntilReady();
    const perEdge: number[] = [];
    const totals: number[] = [];
    const edges: number[] = [];
    for (let r = 0; r < sizes.chainRuns + 1; r++) {
      starts = [];
      ends = [];
      done = deferred<number>();
      const t0 = performance.now();
      await queue.add("step", { i: 0 });
      const t1 = await within(30_000, "bullmq chain-40", done.promise);
      if (r === 0) continue; // warm-up
      totals.push(t1 - t0);
      perEdge.push((t1 - t0) / (CHAIN_LENGTH - 1));
      for (let i = 1; i < CHAIN_LENGTH; i++) edges.push(starts[i]! - ends[i - 1]!);
    }
    return [
      row("chain-40", "ms per edge", "ms", perEdge),
      row("chain-40", "total", "ms", totals),
      { scenario: name, metric: "chain-40: handler returned → next handler started (per edge)", unit: "ms", samples: edges },
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
    const warmups = 10;
    for (let n = 0; n < sizes.triggers + warmups; n++) {
      started = deferred<number>();
      completed = deferred<void>();
      const t0 = performance.now();
      await queue.add("one", { n });
      const t1 = await within(10_000, "bullmq trigger", started.promise);
      await within(10_000, "bullmq trigger completion", completed.promise);
      if (n >= warmups) samples.push(t1 - t0);
    }
    return [row("trigger", "trigger→running", "ms", samples)];
  } finally {
    await close();
  }
}

/** Adds `total` jobs as addBulk batches of `batchSize`, all in flight at once; ms from first add to last completion. */
async function drain(ctx: Ctx, queueName: string, concurrency: number, batches: number, batchSize: number, handler: () => Promise<void>, runs: number): Promise<number[]> {
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
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: batches }, (_, b) =>
          queue.addBulk(Array.from({ length: batchSize }, (_, k) => ({ name: "noop", data: { n: b * batchSize + k } }))),
        ),
      );
      const t1 = await within(120_000, `bullmq ${queueName} (${finished}/${total} done)`, done.promise);
      perSecond.push((total * 1000) / (t1 - t0));
    }
    return perSecond;
  } finally {
    await close();
  }
}

async function throughput(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const samples = await drain(ctx, "throughput", THROUGHPUT_CONCURRENCY, sizes.batches, sizes.batchSize, async () => {}, sizes.throughputRuns);
  return [row("throughput", "tasks/s", "tasks/s", samples)];
}

async function shell(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const batchSize = Math.min(100, sizes.shellJobs);
  const samples = await drain(ctx, "shell", SHELL_CONCURRENCY, sizes.shellJobs / batchSize, batchSize, spawnTrue, 1);
  return [row("shell", "tasks/s", "tasks/s", samples)];
}

async function fanIn(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const flow = new ctx.bull.FlowProducer({ connection: ctx.connection, prefix: ctx.prefix });
  let lastChildEnd = 0;
  let sinkStart = deferred<number>();
  const children = sizes.fanInChildren;
  const { worker, close } = queueAndWorker<{ role: "source" | "child" | "sink" }>(ctx, "fanin", FAN_IN_CONCURRENCY, async (job) => {
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
    const queue = new ctx.bull.Queue("fanin", { connection: ctx.connection, prefix: ctx.prefix, defaultJobOptions: JOB_OPTIONS });
    const samples: number[] = [];
    try {
      for (let r = 0; r < sizes.fanInRuns + 1; r++) {
        lastChildEnd = 0;
        sinkStart = deferred<number>();
        await queue.add("source", { role: "source" });
        const t1 = await within(30_000, "bullmq fan-in", sinkStart.promise);
        if (r > 0) samples.push(t1 - lastChildEnd); // run 0 is a warm-up
      }
    } finally {
      await queue.close();
    }
    return [row("fan-in", "last parent done→sink running", "ms", samples)];
  } finally {
    await close();
    await flow.close();
  }
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const sizes = peerSizes(opts.size);
  const connection = await redisConnection();
  // Loaded here, not at the top, so that listing/running other scenarios never needs BullMQ.
  const bull = await import("bullmq");
  const ctx: Ctx = { bull, connection, prefix: `porpoise-bench-bullmq-${runTag()}` };
  try {
    return [...(await chain(ctx, sizes)), ...(await trigger(ctx, sizes)), ...(await throughput(ctx, sizes)), ...(await fanIn(ctx, sizes)), ...(await shell(ctx, sizes))];
  } finally {
    await deleteRedisPrefix(ctx.prefix);
  }
}

if (import.meta.main) {
  const { summarize } = await import("../bench-types.ts");
  console.table((await run({ size: process.argv.includes("--smoke") ? "smoke" : "full" })).map(summarize));
}
