// graphile-worker, the Postgres peer, in the same shapes as porpoise's scenarios, run in this
// (bun) process against the shared Postgres in a throwaway database (created per bench run,
// migrated by graphile-worker, dropped afterwards). Handlers are no-ops unless said.
// Clock: performance.now() in this process throughout.
//
// "Done" for a graphile-worker job means its row is gone from graphile_worker.jobs (the
// completion is committed): graphile's `job:complete` event fires before that commit
// (worker.js calls completeJob without awaiting it), so the end of every "→ done" span is
// the first moment a query finds the jobs table empty, polled right after the last
// job:complete event (adds ≤ one query, ~0.2 ms).
//
// What is timed:
// - chain-40: a task calls `helpers.addJob` for the next step (i+1) before returning.
//   `total` = task 1 started → task 40 returned (as porpoise's: t0 start → t39 end);
//   `ms per edge` = total / 39, one sample per chain; plus every edge alone: task i
//   returned → task i+1 started. The next chain starts once all completions committed.
// - trigger: one job at a time: `workerUtils.addJob` called → task started; the next
//   trigger waits for the previous completion to commit, so each one meets an idle pool
//   (new jobs are found through LISTEN/NOTIFY).
// - throughput: `batches` × `batchSize` (200 × 100 = 20,000) jobs, each batch one
//   `addJobs` call (one INSERT … SELECT of 100 rows), all batches sent at once while the
//   runner is already running; first addJobs called → last completion committed.
// - fan-in (1 → 100 → 1): a source task adds 100 child jobs (one addJobs) and a counter
//   row; each child decrements the counter in a transaction and the one that reaches 0
//   adds the sink job (graphile_worker.add_job) in that same transaction. Timed: last
//   child's task returned (its transaction committed) → sink task started.
// - shell: 1,000 jobs whose task spawns `true` (Bun.spawn, awaited); first addJobs →
//   last completion committed.
// - cron: not measured (skipped).
//
// Runner settings (LATENCY / BATCHED below): latency shapes run graphile's defaults with
// concurrency 10; throughput and shell use its documented batching (local queue + batched
// completions), graphile's realistic best for many small jobs (throughput is also run once
// with the defaults, as a row of its own).

import postgres from "postgres";
import { compared, type BenchRow, type BenchSize } from "../bench-types.ts";
import { CpuTally, cpuPerTaskUs, startMachineCpu } from "../machine-cpu.ts";
import { CHAIN_LENGTH, WARMUPS, deferred, peerSizes, postgresCommits, runParts, spawnTrue, throwawayDatabase, within, type PeerSizes } from "./peer-common.ts";

export const name = "graphile-worker";

type Graphile = typeof import("graphile-worker");
type TaskList = import("graphile-worker").TaskList;
type RunnerOptions = import("graphile-worker").RunnerOptions;

interface Ctx {
  gw: Graphile;
  url: string;
  /** Our own connection for the "jobs table empty" check and the fan-in counter setup. */
  sql: postgres.Sql;
}

/** Latency shapes: graphile's defaults (no local queue, completions written one by one), 10 workers. */
const LATENCY: Partial<RunnerOptions> = { concurrency: 10, maxPoolSize: 12 };
/**
 * Throughput shapes: graphile's documented batching (a local queue of fetched-and-locked jobs,
 * completions written in batches). 20,000 no-op jobs, bun, 2 shared cores under load 8–10
 * (two runs per setting, interleaved): defaults 300–740 jobs/s; concurrency 10 + localQueue
 * 200 + completeJobBatchDelay 0: 3.7–6k; + localQueue 500, delay 5 ms: 4.8–11k (best);
 * localQueue 1000 / delay 20–50 ms or concurrency 4 / 20: no better. `preset.worker`
 * carries the options graphile only takes through its preset.
 */
const BATCHED: Partial<RunnerOptions> = {
  concurrency: 10,
  maxPoolSize: 12,
  preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 5 } },
};
const BATCHED_NOTE = "concurrency 10, localQueue 500, completeJobBatchDelay 5 ms";

async function withRunner<T>(ctx: Ctx, options: Partial<RunnerOptions>, taskList: TaskList, fn: (runner: import("graphile-worker").Runner) => Promise<T>): Promise<T> {
  const runner = await ctx.gw.run({
    connectionString: ctx.url,
    taskList,
    noHandleSignals: true,
    logger: new ctx.gw.Logger(() => () => {}),
    ...options,
  });
  try {
    return await fn(runner);
  } finally {
    await runner.stop();
  }
}

/** Resolves with the time at which graphile_worker.jobs was first seen empty (completions committed). */
async function jobsCommitted(ctx: Ctx, what: string): Promise<number> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const [{ n }] = (await ctx.sql`select count(*)::int as n from graphile_worker.jobs`) as unknown as [{ n: number }];
    if (n === 0) return performance.now();
    if (performance.now() > deadline) throw new Error(`graphile-worker ${what}: ${n} jobs still not completed after 30 s`);
    await Bun.sleep(0.2);
  }
}

async function chain(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  let starts: number[] = [];
  let ends: number[] = [];
  let lastRan = deferred<void>();
  const tasks: TaskList = {
    step: async (payload, helpers) => {
      const i = (payload as { i: number }).i;
      starts[i] = performance.now();
      if (i + 1 < CHAIN_LENGTH) await helpers.addJob("step", { i: i + 1 });
      ends[i] = performance.now();
      if (i === CHAIN_LENGTH - 1) lastRan.resolve();
    },
  };
  return withRunner(ctx, LATENCY, tasks, async (runner) => {
    const totals: number[] = [];
    const edges: number[] = [];
    for (let r = -WARMUPS.chain; r < sizes.chainRuns; r++) {
      starts = [];
      ends = [];
      lastRan = deferred<void>();
      await runner.addJob("step", { i: 0 });
      await within(30_000, "chain-40", lastRan.promise);
      await jobsCommitted(ctx, "chain-40");
      if (r < 0) continue;
      totals.push(ends[CHAIN_LENGTH - 1]! - starts[0]!);
      for (let i = 1; i < CHAIN_LENGTH; i++) edges.push(starts[i]! - ends[i - 1]!);
    }
    const note = `task adds job i+1 (helpers.addJob); concurrency ${LATENCY.concurrency}`;
    return [
      compared("chainPerEdge", name, "graphile-worker", { samples: totals.map((t) => t / (CHAIN_LENGTH - 1)), note }),
      compared("chainTotal", name, "graphile-worker", { samples: totals, note }),
      { scenario: name, metric: "chain-40: task returned → next task started (each edge)", unit: "ms", samples: edges },
    ];
  });
}

async function trigger(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  let started = deferred<number>();
  const tasks: TaskList = {
    one: async () => {
      started.resolve(performance.now());
    },
  };
  const utils = await ctx.gw.makeWorkerUtils({ connectionString: ctx.url, logger: new ctx.gw.Logger(() => () => {}) });
  try {
    return await withRunner(ctx, LATENCY, tasks, async () => {
      const samples: number[] = [];
      for (let n = -WARMUPS.trigger; n < sizes.triggers; n++) {
        started = deferred<number>();
        const t0 = performance.now();
        await utils.addJob("one", { n });
        const t1 = await within(10_000, "trigger", started.promise);
        await jobsCommitted(ctx, "trigger");
        if (n >= 0) samples.push(t1 - t0);
      }
      return [compared("trigger", name, "graphile-worker", { samples, note: `workerUtils.addJob → task start; concurrency ${LATENCY.concurrency}` })];
    });
  } finally {
    await utils.release();
  }
}

/** Adds batches × batchSize jobs (one addJobs per batch, all in flight), ms-rate from first add to last completion committed. */
async function drain(ctx: Ctx, options: Partial<RunnerOptions>, identifier: string, handler: () => Promise<void>, batches: number, batchSize: number, runs: number, cpu?: CpuTally): Promise<number[]> {
  const total = batches * batchSize;
  let ran = 0;
  let allRan = deferred<void>();
  const tasks: TaskList = {
    [identifier]: async () => {
      await handler();
      if (++ran === total) allRan.resolve();
    },
  };
  const utils = await ctx.gw.makeWorkerUtils({ connectionString: ctx.url, logger: new ctx.gw.Logger(() => () => {}), maxPoolSize: 10 });
  try {
    return await withRunner(ctx, options, tasks, async () => {
      const perSecond: number[] = [];
      for (let r = 0; r < runs; r++) {
        ran = 0;
        allRan = deferred<void>();
        const since = startMachineCpu();
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: batches }, (_, b) => utils.addJobs(Array.from({ length: batchSize }, (_, k) => ({ identifier, payload: { n: b * batchSize + k } })))),
        );
        await within(300_000, `${identifier} (${ran}/${total} ran)`, allRan.promise);
        const t1 = await jobsCommitted(ctx, identifier);
        cpu?.add(since());
        perSecond.push((total * 1000) / (t1 - t0));
      }
      return perSecond;
    });
  } finally {
    await utils.release();
  }
}

async function throughput(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const cpu = new CpuTally();
  const samples = await drain(ctx, BATCHED, "noop", async () => {}, sizes.batches, sizes.batchSize, sizes.throughputRuns, cpu);
  // Also graphile's out-of-the-box setting once (what DESIGN §6's "~3–4k jobs/s" most likely measured).
  const defaults = await drain(ctx, LATENCY, "noop", async () => {}, sizes.batches, sizes.batchSize, 1);
  return [
    compared("throughput", name, "graphile-worker", { samples, note: `${sizes.batches}× addJobs(${sizes.batchSize}) at once; ${BATCHED_NOTE}` }),
    { scenario: name, metric: "throughput with graphile's defaults (no local queue, completions one by one; concurrency 10)", unit: "tasks/s", samples: defaults },
    ...(cpu.seconds === null
      ? []
      : [
          compared("machineCpuPerTask", name, "graphile-worker", {
            value: cpuPerTaskUs(cpu.seconds, samples.length * sizes.batches * sizes.batchSize),
            note: `CPU of every process of the machine over the runs (/proc/stat) ÷ jobs: the bench process (producer and worker) and Postgres; ${BATCHED_NOTE}`,
          }),
        ]),
  ];
}

async function shell(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const batchSize = Math.min(100, sizes.shellJobs);
  const samples = await drain(ctx, BATCHED, "shell", spawnTrue, Math.ceil(sizes.shellJobs / batchSize), batchSize, 1);
  return [compared("shell", name, "graphile-worker", { samples, note: `task: Bun.spawn(["true"]); ${BATCHED_NOTE}` })];
}

async function fanIn(ctx: Ctx, sizes: PeerSizes): Promise<BenchRow[]> {
  const children = sizes.fanInChildren;
  let lastChildEnd = 0;
  let sinkStart = deferred<number>();
  await ctx.sql`create table bench_fanin (run int primary key, remaining int not null)`;
  const tasks: TaskList = {
    source: async (payload, helpers) => {
      const run = (payload as { run: number }).run;
      await helpers.query("insert into bench_fanin (run, remaining) values ($1, $2)", [run, children]);
      await helpers.addJobs(Array.from({ length: children }, () => ({ identifier: "child", payload: { run } })));
    },
    child: async (payload, helpers) => {
      const run = (payload as { run: number }).run;
      // Decrement and (for the last child) enqueue the sink atomically: a crash between
      // the two can neither lose the sink nor add it twice.
      await helpers.withPgClient(async (client) => {
        await client.query("begin");
        try {
          const { rows } = await client.query<{ remaining: number }>("update bench_fanin set remaining = remaining - 1 where run = $1 returning remaining", [run]);
          if (rows[0]!.remaining === 0) await client.query("select graphile_worker.add_job('sink', json_build_object('run', $1::int))", [run]);
          await client.query("commit");
        } catch (err) {
          await client.query("rollback");
          throw err;
        }
      });
      lastChildEnd = Math.max(lastChildEnd, performance.now());
    },
    sink: async () => {
      sinkStart.resolve(performance.now());
    },
  };
  return withRunner(ctx, LATENCY, tasks, async (runner) => {
    const samples: number[] = [];
    for (let r = -WARMUPS.fanIn; r < sizes.fanInRuns; r++) {
      lastChildEnd = 0;
      sinkStart = deferred<number>();
      await runner.addJob("source", { run: r + WARMUPS.fanIn });
      const t1 = await within(30_000, "fan-in", sinkStart.promise);
      await jobsCommitted(ctx, "fan-in");
      if (r >= 0) samples.push(t1 - lastChildEnd);
    }
    const note = `source adds ${children} jobs; the child that takes a counter to 0 adds the sink in its transaction; concurrency ${LATENCY.concurrency}`;
    return [compared("fanIn", name, "graphile-worker", { samples, note })];
  });
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const sizes = peerSizes(opts.size);
  const db = await throwawayDatabase("gw");
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    // Loaded here, not at the top, so that listing/running other scenarios never needs graphile-worker.
    const gw = await import("graphile-worker");
    await gw.runMigrations({ connectionString: db.url, logger: new gw.Logger(() => () => {}) });
    const ctx: Ctx = { gw, url: db.url, sql };
    return await runParts(name, [
      ["yardstick", async () => [await postgresCommits(name, sql, 200)]],
      ["chain-40", () => chain(ctx, sizes)],
      ["trigger", () => trigger(ctx, sizes)],
      ["throughput", () => throughput(ctx, sizes)],
      ["fan-in", () => fanIn(ctx, sizes)],
      ["shell", () => shell(ctx, sizes)],
    ]);
  } finally {
    await sql.end({ timeout: 2 });
    await db.drop();
  }
}

if (import.meta.main) {
  const { summarize } = await import("../bench-types.ts");
  console.table((await run({ size: process.argv.includes("--smoke") ? "smoke" : "full" })).map(summarize));
}
