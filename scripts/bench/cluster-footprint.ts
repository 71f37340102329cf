// Idle RSS of the cluster's processes (issue 10: master ≤ 60 MB, worker ≤ 40 MB): 1 api + 1
// master + 1 worker on Postgres + Redis (porpoise-cluster.ts), VmRSS of each 2 s after all of
// them logged "ready", nothing submitted. From source (`bun src/main.ts <role>`), as the
// cluster harness starts them; footprint.ts measures `porpoise all` on the binary when dist/
// has one, which reads several MB lower than from source.
//
// Also runnable alone: `bun scripts/bench/cluster-footprint.ts [smoke|full]`.

import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { startPorpoiseCluster } from "./porpoise-cluster.ts";
import { procStatusMb } from "./porpoise-server.ts";

export const name = "cluster-footprint";
const IDLE_MS = 2000;

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const runs = opts.size === "full" ? 3 : 1;
  const rss = { api: [] as number[], master: [] as number[], worker: [] as number[] };
  for (let r = 0; r < runs; r++) {
    await using server = await startPorpoiseCluster({ masters: 1, workers: 1, dispatchCache: true });
    await Bun.sleep(IDLE_MS);
    const c = server.cluster;
    rss.api.push(procStatusMb(c.apiNode.proc.pid, "VmRSS"));
    rss.master.push(procStatusMb(c.masters[0]!.proc.pid, "VmRSS"));
    rss.worker.push(procStatusMb(c.workers[0]!.proc.pid, "VmRSS"));
  }
  const note = `VmRSS ${IDLE_MS / 1000} s after ready, nothing submitted; bun src/main.ts`;
  return [
    compared("idleRssMaster", name, "porpoise-cluster", { samples: rss.master, note }),
    compared("idleRssWorker", name, "porpoise-cluster", { samples: rss.worker, note }),
    compared("idleRssApi", name, "porpoise-cluster", { samples: rss.api, note }),
  ];
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
