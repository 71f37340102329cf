// throughput (issue 5): 200 runs of ONE workflow of 100 independent `noop` tasks (20,000 tasks)
// on a real `porpoise all` (SQLite, then Postgres) with --worker-slots 100 (the peers run this
// shape at concurrency 100; porpoise's default is one slot per CPU). The runs are triggered
// through the API, 8 requests in flight; tasks/s = tasks / (latest stored instance endTime −
// the client clock just before the first trigger), i.e. end to end, triggering included.
//
// Time bound: a warm-up run first; when its rate says 200 runs would take over 60 s, fewer runs
// are made (the row's note says how many) so the whole bench stays within minutes on a slow
// build; a second batch runs only when the first took under 30 s.
//
// Also reports the footprint line "peak RSS (throughput)": VmHWM of the process after the
// batches (its lifetime peak, which is the throughput batches: setup is far lighter).
//
// Also runnable alone: `bun scripts/bench/all-throughput.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { SYSTEM_OF, eachDialect, ms, noopTask, setUp, trigger, waitForInstance, type PorpoiseServer } from "./porpoise-server.ts";

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
  return eachDialect(
    async (server, dialect) => {
      await setUp(server, { name: "wide", tasks });
      const warm = await trigger(server, "wide");
      const warmRun = await waitForInstance(server, "wide", warm.id, 10);
      const warmRate = (WIDTH * 1000) / Math.max(1, ms(warmRun.endTime, "warm-up end") - warm.sentAt);
      const runs = Math.max(Math.min(wanted, 4), Math.min(wanted, Math.floor((warmRate * BUDGET_MS) / 1000 / WIDTH)));
      const samples: number[] = [];
      const started = Date.now();
      for (let b = 0; b < batches && (b === 0 || Date.now() - started < 30_000); b++) {
        // `from` (created at or after) narrows the list to this batch; its ids are checked too.
        samples.push(await batch(server, runs, Date.now() - 1));
      }
      const system = SYSTEM_OF[dialect];
      const { hwmMb } = server.memory();
      const cut = runs < wanted ? ` (cut from ${wanted}: the warm-up ran at ${Math.round(warmRate)} tasks/s)` : "";
      return [
        compared("throughput", name, system, { samples, note: `${runs} runs × ${WIDTH} noop tasks per batch${cut}, --worker-slots ${THROUGHPUT_SLOTS}` }),
        compared("peakRss", name, system, { value: hwmMb, note: "VmHWM of porpoise all (from source) after the batches" }),
      ];
    },
    ["--worker-slots", String(THROUGHPUT_SLOTS)],
  );
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
