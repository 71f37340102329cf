// Shell tasks through the whole worker executor (runAttempt: work dir, log file, script file,
// bash in its own process group, exit), running `true`: the per-task floor of a shell task.
// Sequential, then 2 and 4 at a time. A scenario for run.ts
// (`bun scripts/bench/run.ts --only shell-spawn`), also runnable alone:
// `bun scripts/bench/shell-spawn.ts [smoke|full]`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { taskDefinitionSchema } from "../../src/core/workflow-schema.ts";
import { runAttempt } from "../../src/worker/executor.ts";
import { taskLogPath } from "../../src/worker/task-log.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";

export const name = "shell-spawn";

const task = taskDefinitionSchema.parse({ name: "true", type: "shell", script: "true" });

async function runMany(root: string, tasks: number, concurrency: number): Promise<number> {
  let next = 0;
  const signal = new AbortController().signal;
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  const worker = async () => {
    while (next < tasks) {
      const id = ++next;
      const result = await runAttempt({
        task,
        params: {},
        attemptDir: join(root, "work", String(concurrency), `${id}-1`),
        logPath: taskLogPath(join(root, "logs"), concurrency, id, 1),
        signal,
        datasources: async () => null,
        env,
      });
      if (result.state !== "SUCCESS") throw new Error(`task ${id} ended ${result.state}: ${result.message}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Math.round(tasks / ((performance.now() - t0) / 1000));
}

export async function run({ size }: { size: BenchSize }): Promise<BenchRow[]> {
  const tasks = size === "smoke" ? 20 : 1000;
  const root = mkdtempSync(join(tmpdir(), "porpoise-bench-shell-"));
  try {
    await runMany(join(root, "warm-up"), Math.min(tasks, 20), 1);
    const rows: BenchRow[] = [];
    for (const concurrency of [1, 2, 4]) {
      rows.push({ scenario: name, metric: `${tasks} shell tasks (true), ${concurrency === 1 ? "sequential" : `${concurrency} at a time`}`, unit: "tasks/s", value: await runMany(root, tasks, concurrency) });
    }
    return rows;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const size = (process.argv[2] ?? "full") as BenchSize;
  for (const row of await run({ size })) console.log(`${row.metric}: ${row.value} ${row.unit}`);
}
