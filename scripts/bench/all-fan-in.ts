// fan-in (issue 5): 1 → 100 → 1 `noop` tasks on a real `porpoise all` (SQLite, then Postgres)
// and the cluster (each-system.ts) with --worker-slots 100 (the peers' concurrency for this shape), one run at a time through the API. Per run: the sink's stored startTime − the latest stored
// endTime among the 100 parents (1 ms resolution), i.e. how long the last completion takes to
// become "all deps done" and the sink's dispatch. The whole run (source start → sink end) is
// reported alongside.
//
// Also runnable alone: `bun scripts/bench/all-fan-in.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { eachSystem } from "./each-system.ts";
import { ms, noopTask, setUp, trigger, waitForInstance } from "./porpoise-server.ts";

export const name = "all-fan-in";
const WIDTH = 100;

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const runs = opts.size === "full" ? 10 : 2;
  const parents = Array.from({ length: WIDTH }, (_, i) => noopTask(`p${i}`, ["source"]));
  const tasks = [noopTask("source"), ...parents, noopTask("sink", parents.map((p) => p.name))];
  return eachSystem(
    async (server, system) => {
      await setUp(server, { name: "fanin", tasks });
      const toSink: number[] = [];
      const whole: number[] = [];
      for (let r = -1; r < runs; r++) {
        const { id } = await trigger(server, "fanin");
        const instance = await waitForInstance(server, "fanin", id);
        if (r < 0) continue; // warm-up
        const find = (n: string) => instance.tasks.find((t) => t.taskName === n) ?? null;
        const lastParentEnd = Math.max(...instance.tasks.filter((t) => t.taskName.startsWith("p")).map((t) => ms(t.endTime, `${t.taskName} end`)));
        const sink = find("sink");
        if (!sink) throw new Error(`instance ${id} has no sink task instance`);
        toSink.push(ms(sink.startTime, "sink start") - lastParentEnd);
        whole.push(ms(sink.endTime, "sink end") - ms(find("source")!.startTime, "source start"));
      }
      return [
        compared("fanIn", name, system, { samples: toSink, note: "stored timestamps, 1 ms resolution" }),
        { scenario: name, system, metric: "whole run (source start → sink end)", unit: "ms", samples: whole },
      ];
    },
    { workerSlots: 100 },
  );
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
