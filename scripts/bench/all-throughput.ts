// throughput (issue 5): 200 runs of ONE workflow of 100 independent `noop` tasks (20,000 tasks)
// on a real `porpoise all` (SQLite, then Postgres) and the cluster (each-system.ts: 1 api +
// 1 master + 1 worker; at full size also 2 masters + 2 workers, and 1 + 1 + 1 with the dispatch
// cache off) with --worker-slots 100 (the peers run this shape at concurrency 100; porpoise's
// default is one slot per CPU; each worker of the 2×2 cluster has 100, as a user scaling out
// would give it). The runs are triggered
// through the API, 8 requests in flight; tasks/s = tasks / (latest stored instance endTime −
// the client clock just before the first trigger), i.e. end to end, triggering included.
//
// Time bound: a warm-up run first; when its rate says 200 runs would take over 60 s, fewer runs
// are made (the row's note says how many) so the whole bench stays within minutes on a slow
// build; a second batch runs only when the first took under 30 s.
//
// Also reports the footprint line "peak RSS (throughput)": VmHWM of the process after the
// batches (its lifetime peak, which is the throughput batches: setup is far lighter); for the
// cluster the sum over its processes.
//
// On Postgres, also "Postgres transactions per task" (issue 10): the database's committed and
// rolled-back transactions over the batches ÷ tasks (pg-transactions.ts: 11 s settles before
// and after, for Postgres' stats to flush; smoke settles 1.1 s and reads low or high).
//
// Also runnable alone: `bun scripts/bench/all-throughput.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { DEFAULT_SYSTEMS, eachSystem } from "./each-system.ts";
import { CpuTally, cpuPerTaskUs, startMachineCpu } from "./machine-cpu.ts";
import { SETTLE_MS, countTransactions } from "./pg-transactions.ts";
import { ms, noopTask, setUp, trigger, waitForInstance, type PorpoiseServer } from "./porpoise-server.ts";

export const name = "all-throughput";
const WIDTH = 100;
const IN_FLIGHT = 8;
export const THROUGHPUT_SLOTS = 100;
const BUDGET_MS = 60_000;

interface Page {
  items: { id: number; state: string; endTime: string | null }[];
  total: number;
}

async function batch(server: PorpoiseServer, runs: number, sinceMs: number): Promise<number> {
  const firstSent = Date.now();
  let next = 0;
  const ids: number[] = [];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < runs) {
        next++;
        ids.push((await trigger(server, "wide")).id);
      }
    }),
  );
  const deadline = Date.now() + 600_000;
  const from = new Date(sinceMs).toISOString();
  for (;;) {
    const ended = await server.api<Page>("GET", `/projects/bench/workflow-instances?workflow=wide&state=SUCCESS,FAILURE,STOP,PAUSE&from=${from}&limit=1`);
    if (ended.total >= runs) break;
    if (Date.now() > deadline) throw new Error(`only ${ended.total} of ${runs} runs ended after 600 s`);
    await Bun.sleep(20);
  }
  let lastEnd = 0;
  const wanted = new Set(ids);
  for (let offset = 0; ; offset += 100) {
    const page = await server.api<Page>("GET", `/projects/bench/workflow-instances?workflow=wide&from=${from}&limit=100&offset=${offset}`);
    for (const i of page.items) {
      if (!wanted.has(i.id)) continue;
      if (i.state !== "SUCCESS") throw new Error(`workflow instance ${i.id} ended ${i.state}`);
      lastEnd = Math.max(lastEnd, Date.parse(i.endTime!));
    }
    if (page.items.length < 100) break;
  }
  return (runs * WIDTH * 1000) / (lastEnd - firstSent);
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const [wanted, batches] = opts.size === "full" ? [200, 2] : [4, 1];
  const tasks = Array.from({ length: WIDTH }, (_, i) => noopTask(`t${i}`));
  return eachSystem(
    async (server, system) => {
      await setUp(server, { name: "wide", tasks });
      const warm = await trigger(server, "wide");
      const warmRun = await waitForInstance(server, "wide", warm.id, 10);
      const warmRate = (WIDTH * 1000) / Math.max(1, ms(warmRun.endTime, "warm-up end") - warm.sentAt);
      const runs = Math.max(Math.min(wanted, 4), Math.min(wanted, Math.floor((warmRate * BUDGET_MS) / 1000 / WIDTH)));
      const cpu = new CpuTally();
      const batchesRun = async () => {
        const samples: number[] = [];
        const started = Date.now();
        for (let b = 0; b < batches && (b === 0 || Date.now() - started < 30_000); b++) {
          // `from` (created at or after) narrows the list to this batch; its ids are checked too.
          const since = startMachineCpu();
          samples.push(await batch(server, runs, Date.now() - 1));
          cpu.add(since());
        }
        return samples;
      };
      const counted = server.dbUrl ? await countTransactions(server.dbUrl, batchesRun, opts.size === "full" ? SETTLE_MS : 1_100) : null;
      const samples = counted ? counted.result : await batchesRun();
      const { hwmMb } = server.memory();
      const cut = runs < wanted ? ` (cut from ${wanted}: the warm-up ran at ${Math.round(warmRate)} tasks/s)` : "";
      const rows = [
        compared("throughput", name, system, { samples, note: `${runs} runs × ${WIDTH} noop tasks per batch${cut}, --worker-slots ${THROUGHPUT_SLOTS}` }),
        compared("peakRss", name, system, { value: hwmMb, note: system.startsWith("porpoise-cluster") ? "VmHWM summed over the cluster's processes (from source) after the batches" : "VmHWM of porpoise all (from source) after the batches" }),
      ];
      if (cpu.seconds !== null) {
        const note = "CPU of every process of the machine over the batches (/proc/stat) ÷ tasks; triggers and the client's polls included";
        rows.push(compared("machineCpuPerTask", name, system, { value: cpuPerTaskUs(cpu.seconds, samples.length * runs * WIDTH), note }));
      }
      if (counted) {
        const tasks = samples.length * runs * WIDTH;
        const note = `${counted.transactions} xact_commit+xact_rollback (pg_stat_database) / ${tasks} tasks, triggers, polls and background included`;
        rows.push(compared("pgTransactionsPerTask", name, system, { value: counted.transactions / tasks, note }));
      }
      return rows;
    },
    { workerSlots: THROUGHPUT_SLOTS, systems: opts.size === "full" ? [...DEFAULT_SYSTEMS, "porpoise-cluster-2x2", "porpoise-cluster-nocache"] : DEFAULT_SYSTEMS },
  );
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
