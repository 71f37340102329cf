// footprint (issue 5): binary size, idle RSS and cold start of `porpoise all`. Peak RSS during
// throughput is reported by all-throughput.ts (same comparison line, shape "footprint").
//
// - binary size: dist/porpoise-linux-x64. Full size builds it (`npm run build -- --target x64`)
//   when dist/ lacks it; smoke skips the row (shown "–" with a note) rather than build.
// - idle RSS: VmRSS of `porpoise all` 2 s after /readyz first answered 200, fresh data dir
//   (SQLite) or fresh database (Postgres). Measured on the binary when there is one (what
//   ships), else on `bun src/main.ts` — the note says which; the two differ by several MB.
// - cold start: spawn → first /readyz 200 on a fresh data dir, SQLite (scripts/cold-start.ts).
//
// Also runnable alone: `bun scripts/bench/footprint.ts [smoke|full]`.

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryToMeasure, fromSourceNote } from "./built-binary.ts";
import { dropFromPageCache, pageCacheNote } from "./page-cache.ts";
import { coldStarts } from "../cold-start.ts";
import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { FROM_SOURCE, PartialFailure, ROOT, SYSTEM_OF, startPorpoise } from "./porpoise-server.ts";

export const name = "footprint";

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const rows: BenchRow[] = [];
  const errors: string[] = [];
  const binary = await binaryToMeasure(full, "footprint");
  const binaryNote = binary?.note ?? "";
  if (binary) {
    rows.push(compared("binarySize", name, "porpoise-sqlite", { value: statSync(BINARY).size / 1e6, note: binaryNote }));
  } else {
    rows.push(compared("binarySize", name, "porpoise-sqlite", { samples: [], note: `skipped in --smoke: ${fromSourceNote()} (npm run build -- --target x64)` }));
  }
  const useBinary = binary !== null;
  const command = useBinary ? [BINARY] : FROM_SOURCE;
  const what = useBinary ? binaryNote : fromSourceNote();
  const runs = full ? 3 : 1;
  for (const dialect of ["sqlite", "postgres"] as const) {
    try {
      const samples: number[] = [];
      let dropped = useBinary;
      for (let r = 0; r < runs; r++) {
        // As read from disk, not as just written (page-cache.ts).
        if (useBinary) dropped = dropFromPageCache(BINARY) && dropped;
        await using server = await startPorpoise(dialect, { command });
        await Bun.sleep(2000);
        samples.push(server.memory().rssMb);
      }
      rows.push(compared("idleRss", name, SYSTEM_OF[dialect], { samples, note: `VmRSS 2 s after ready; ${what}${useBinary ? `; ${pageCacheNote(dropped)}` : ""}` }));
    } catch (err) {
      errors.push(`idle RSS ${dialect}: ${(err as Error)?.stack ?? err}`);
    }
  }
  try {
    const samples = await coldStarts(command, full ? 15 : 2);
    rows.push(compared("coldStart", name, "porpoise-sqlite", { samples, note: `fresh data dir; ${what}` }));
  } catch (err) {
    errors.push(`cold start: ${(err as Error)?.stack ?? err}`);
  }
  if (errors.length > 0) throw new PartialFailure(errors.join("\n"), rows);
  return rows;
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
