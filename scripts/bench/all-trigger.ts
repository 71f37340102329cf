// trigger (issue 5): single-`noop`-task runs triggered one at a time through the API of a real
// `porpoise all` (SQLite, then Postgres) and of the cluster (each-system.ts); the next trigger
// is sent once the previous run ended.
//
// trigger→running, per run = the task instance's stored startTime (set by the worker when the
// attempt starts) − the bench's Date.now() taken just before it sent POST …/run. Same machine,
// same clock; both are whole milliseconds (the store keeps ms), so each sample is ±1 ms.
// Waiting for the end is a poll of the instance list every 20 ms (porpoise-server.ts waitForInstance);
// it does not enter the figure.
//
// Also runnable alone: `bun scripts/bench/all-trigger.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { eachSystem } from "./each-system.ts";
import { ms, noopTask, setUp, trigger, waitForInstance } from "./porpoise-server.ts";

export const name = "all-trigger";

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const [warmup, runs] = opts.size === "full" ? [20, 1000] : [3, 20];
  return eachSystem(async (server, system) => {
    await setUp(server, { name: "one", tasks: [noopTask("t")] });
    const samples: number[] = [];
    for (let r = -warmup; r < runs; r++) {
      const { id, sentAt } = await trigger(server, "one");
      const instance = await waitForInstance(server, "one", id);
      if (r >= 0) samples.push(ms(instance.tasks[0]!.startTime, "task start") - sentAt);
    }
    return [compared("trigger", name, system, { samples, note: "client send → stored task start, ms resolution" })];
  });
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
