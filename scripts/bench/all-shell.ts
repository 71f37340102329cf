// shell (issue 5): one workflow of independent `shell` tasks running `true` (full: 1,000; smoke:
// 20) on a real `porpoise all` (SQLite, then Postgres) and the cluster (each-system.ts) with
// --worker-slots 8 (the peers' concurrency for this shape; porpoise's default is one slot per CPU).
// tasks/s = tasks / (latest stored task endTime − the client clock just before the trigger):
// every attempt spawns bash in its own process group, with work dir, script file and log file.
//
// Also runnable alone: `bun scripts/bench/all-shell.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { eachSystem } from "./each-system.ts";
import { ms, setUp, trigger, waitForInstance } from "./porpoise-server.ts";

export const name = "all-shell";
const SLOTS = 8;

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const [count, runs] = opts.size === "full" ? [1000, 2] : [20, 1];
  const tasks = Array.from({ length: count }, (_, i) => ({ name: `s${i}`, type: "shell", script: "true" }));
  return eachSystem(
    async (server, system) => {
      await setUp(server, { name: "shell", tasks });
      const samples: number[] = [];
      for (let r = 0; r < runs; r++) {
        const { id, sentAt } = await trigger(server, "shell");
        const instance = await waitForInstance(server, "shell", id, 20, 600_000);
        const lastEnd = Math.max(...instance.tasks.map((t) => ms(t.endTime, `${t.taskName} end`)));
        samples.push((count * 1000) / (lastEnd - sentAt));
      }
      return [compared("shell", name, system, { samples, note: `one run of ${count} shell tasks running true per sample, --worker-slots ${SLOTS}` })];
    },
    { workerSlots: SLOTS },
  );
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
