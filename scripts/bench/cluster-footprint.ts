// Idle RSS of the cluster's processes (issue 10: master ≤ 60 MB, worker ≤ 40 MB): 1 api + 1
// master + 1 worker on Postgres + Redis (porpoise-cluster.ts), VmRSS of each 2 s after all of
// them logged "ready", nothing submitted. Like footprint.ts: on the built binary
// (dist/porpoise-linux-x64, what ships; full size builds it when missing), else from source
// (`bun src/main.ts <role>`), which reads several MB higher; the note says which. The binary's
// pages are dropped from the page cache before each start (page-cache.ts says why).
//
// Also runnable alone: `bun scripts/bench/cluster-footprint.ts [smoke|full]`.

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryToMeasure, fromSourceNote } from "./built-binary.ts";
import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { startPorpoiseCluster } from "./porpoise-cluster.ts";
import { dropFromPageCache, pageCacheNote } from "./page-cache.ts";
import { ROOT, procStatusMb } from "./porpoise-server.ts";

export const name = "cluster-footprint";
const IDLE_MS = 2000;

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const runs = opts.size === "full" ? 3 : 1;
  const built = await binaryToMeasure(opts.size === "full", "cluster-footprint");
  const binary = built !== null;
  const rss = { api: [] as number[], master: [] as number[], worker: [] as number[] };
  let dropped = binary;
  for (let r = 0; r < runs; r++) {
    if (binary) dropped = dropFromPageCache(BINARY) && dropped;
    await using server = await startPorpoiseCluster({ masters: 1, workers: 1, dispatchCache: true }, binary ? { command: [BINARY] } : {});
    await Bun.sleep(IDLE_MS);
    const c = server.cluster;
    rss.api.push(procStatusMb(c.apiNode.proc.pid, "VmRSS"));
    rss.master.push(procStatusMb(c.masters[0]!.proc.pid, "VmRSS"));
    rss.worker.push(procStatusMb(c.workers[0]!.proc.pid, "VmRSS"));
  }
  const what = built ? built.note : fromSourceNote();
  const note = `VmRSS ${IDLE_MS / 1000} s after ready, nothing submitted; ${what}${binary ? `; ${pageCacheNote(dropped)}` : ""}`;
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
