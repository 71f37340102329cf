// The retention sweep (src/store/retention.ts): how long one batch DELETE of 100 finished
// instances takes — each with 3 attempts and a 4 KiB log chunk per attempt, cascading — while
// as many recent instances stay, on SQLite (file, WAL) and Postgres (a throwaway database). The
// batch's duration is how long it holds its locks (SQLite: the writer lock; Postgres: the rows).
//
// A scenario of `npm run bench` (20,000 instances, half old; smoke: 2,000), and runnable alone:
// `npx bun scripts/bench/retention-sweep.ts [instances]`.

import type { Dialect } from "../../src/store/store.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";
import { RETENTION_BATCH } from "../../src/master/retention-sweep.ts";
import { freshStore, rawExec } from "../../test/helpers/stores.ts";

export const name = "retention-sweep";
const DAY = 86_400_000;

function seedSql(dialect: Dialect, workflowId: number, projectId: number, n: number): string {
  const old = Date.now() - 40 * DAY;
  const recent = Date.now() - DAY;
  if (dialect === "postgres") {
    return `
      INSERT INTO workflow_instances (id, project_id, workflow_id, workflow_version, state, run_type, slot, end_time)
        SELECT g, ${projectId}, ${workflowId}, 1, 'SUCCESS', 'START_PROCESS', g % 64,
               to_timestamp((CASE WHEN g % 2 = 0 THEN ${old} ELSE ${recent} END) / 1000.0) FROM generate_series(1, ${n}) g;
      SELECT setval(pg_get_serial_sequence('workflow_instances', 'id'), ${n});
      INSERT INTO task_instances (workflow_instance_id, task_name, task_type, state, slot)
        SELECT wi.id, 't' || k, 'shell', 'SUCCESS', wi.slot FROM workflow_instances wi, generate_series(1, 3) k;
      INSERT INTO task_log_chunks (task_instance_id, seq, byte_offset, data)
        SELECT id, 1, 0, convert_to(repeat('x', 4096), 'UTF8') FROM task_instances;
      ANALYZE;`;
  }
  return `
    WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ${n})
    INSERT INTO workflow_instances (id, project_id, workflow_id, workflow_version, state, run_type, slot, end_time)
      SELECT i, ${projectId}, ${workflowId}, 1, 'SUCCESS', 'START_PROCESS', i % 64, CASE WHEN i % 2 = 0 THEN ${old} ELSE ${recent} END FROM g;
    WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < 3)
    INSERT INTO task_instances (workflow_instance_id, task_name, task_type, state, slot)
      SELECT wi.id, 't' || j, 'shell', 'SUCCESS', wi.slot FROM workflow_instances wi, k;
    INSERT INTO task_log_chunks (task_instance_id, seq, byte_offset, data) SELECT id, 1, 0, randomblob(4096) FROM task_instances;
    ANALYZE;`;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

export async function run(opts: { size: BenchSize; instances?: number }): Promise<BenchRow[]> {
  const N = opts.instances ?? (opts.size === "smoke" ? 2000 : 20_000);
  const rows: BenchRow[] = [];
  for (const dialect of ["sqlite", "postgres"] as Dialect[]) {
    await using store = await freshStore(dialect);
    const system = { userId: null, userName: "bench" };
    const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, system);
    const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, system);
    const { workflow } = await store.workflows.create(project.id, { name: "bench", description: "", tasks: [{ name: "a", type: "noop" }] } as never, system);
    await rawExec(store.url, seedSql(dialect, workflow.id, project.id, N));
    const batches: number[] = [];
    let removed = 0;
    const started = performance.now();
    for (;;) {
      const t0 = performance.now();
      const batch = await store.retention.sweep({ endedBefore: new Date(Date.now() - 30 * DAY), keepPerWorkflow: null, limit: RETENTION_BATCH });
      batches.push(performance.now() - t0);
      removed += batch.length;
      if (batch.length < RETENTION_BATCH) break;
    }
    const total = performance.now() - started;
    console.log(
      `${dialect}: removed ${removed} of ${N} instances (${removed * 3} attempts, ${((removed * 3 * 4096) / 1024 / 1024).toFixed(0)} MiB of log chunks) in ${batches.length} batches, ` +
        `${total.toFixed(0)} ms; per batch of ${RETENTION_BATCH}: p50 ${pct(batches, 50).toFixed(1)} ms, p95 ${pct(batches, 95).toFixed(1)} ms, max ${Math.max(...batches).toFixed(1)} ms`,
    );
    rows.push({ scenario: name, metric: `${dialect}: one sweep batch of ${RETENTION_BATCH} finished instances (3 attempts, 4 KiB log each), ${N} instances half old`, unit: "ms", samples: batches });
  }
  return rows;
}

if (import.meta.main) await run({ size: "full", instances: Number(process.argv[2] ?? 20_000) });
