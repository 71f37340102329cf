// chain-40 (issue 5): a workflow of 40 `noop` tasks in a line, run on a real `porpoise all`
// (SQLite, then Postgres) and on the cluster, also with its dispatch cache off (full size
// only; each-system.ts), through the HTTP API, one run at a time.
//
// - total: t0's start → t39's end, both as stored by porpoise (task instance startTime /
//   endTime). It includes the 40 noop attempts themselves (work dir + log file each).
// - ms per edge (the headline): total / 39.
// - edge gaps: t(i).start − t(i−1).end for every edge of every run; the rest of an edge is the
//   attempt itself, t(i).start → t(i).end, reported next to it. The stored timestamps have
//   1 ms resolution on both dialects (SQLite integer ms, Postgres timestamptz(3)), so a gap
//   reads 0 or 1 ms where the real value is a fraction: total / 39 is the figure to quote.
//
// Also runnable alone: `bun scripts/bench/all-chain-40.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { DEFAULT_SYSTEMS, eachSystem } from "./each-system.ts";
import { ms, noopTask, setUp, trigger, waitForInstance } from "./porpoise-server.ts";

export const name = "all-chain-40";
const LENGTH = 40;

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const runs = opts.size === "full" ? 10 : 2;
  const tasks = Array.from({ length: LENGTH }, (_, i) => noopTask(`t${i}`, i === 0 ? [] : [`t${i - 1}`]));
  return eachSystem(async (server, system) => {
    await setUp(server, { name: "chain40", tasks });
    const totals: number[] = [];
    const gaps: number[] = [];
    const inside: number[] = [];
    for (let r = -1; r < runs; r++) {
      const { id } = await trigger(server, "chain40");
      const instance = await waitForInstance(server, "chain40", id);
      if (r < 0) continue; // warm-up run: first-use costs (prepared statements, JIT) are not edges
      const byName = new Map(instance.tasks.map((t) => [t.taskName, t]));
      const at = (i: number) => byName.get(`t${i}`) ?? null;
      if (byName.size !== LENGTH) throw new Error(`instance ${id} has ${byName.size} task instances, expected ${LENGTH}`);
      totals.push(ms(at(LENGTH - 1)!.endTime, "t39 end") - ms(at(0)!.startTime, "t0 start"));
      for (let i = 1; i < LENGTH; i++) gaps.push(ms(at(i)!.startTime, `t${i} start`) - ms(at(i - 1)!.endTime, `t${i - 1} end`));
      for (let i = 0; i < LENGTH; i++) inside.push(ms(at(i)!.endTime, `t${i} end`) - ms(at(i)!.startTime, `t${i} start`));
    }
    return [
      compared("chainPerEdge", name, system, { samples: totals.map((t) => t / (LENGTH - 1)), note: "total / 39" }),
      compared("chainTotal", name, system, { samples: totals, note: "t0 start → t39 end (stored)" }),
      { scenario: name, system, metric: "edge gap t(i).start − t(i−1).end", unit: "ms", samples: gaps, note: "stored timestamps: 1 ms resolution" },
      // The rest of an edge: one noop attempt, start → end as stored (work dir and log file included).
      { scenario: name, system, metric: "noop attempt t(i).start → t(i).end", unit: "ms", samples: inside, note: "stored timestamps: 1 ms resolution" },
    ];
  }, { systems: opts.size === "full" ? [...DEFAULT_SYSTEMS, "porpoise-cluster-nocache"] : DEFAULT_SYSTEMS });
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
