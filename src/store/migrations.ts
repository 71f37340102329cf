// The embedded, numbered, forward-only migrations (graphile-worker style): compiled into the
// binary, never read from disk at run time. Add a file to migrations/<dialect>/ AND list it
// here; test/integration/store/migrations.test.ts fails when the two disagree.

import pg0001 from "../../migrations/postgres/0001_init.sql" with { type: "text" };
import pg0002 from "../../migrations/postgres/0002_runs.sql" with { type: "text" };
import pg0003 from "../../migrations/postgres/0003_schedules.sql" with { type: "text" };
import pg0004 from "../../migrations/postgres/0004_backfills.sql" with { type: "text" };
import pg0005 from "../../migrations/postgres/0005_instance_columns.sql" with { type: "text" };
import pg0006 from "../../migrations/postgres/0006_project_tenant.sql" with { type: "text" };
import pg0008 from "../../migrations/postgres/0008_batch_commits.sql" with { type: "text" };
import pg0009 from "../../migrations/postgres/0009_run_executor.sql" with { type: "text" };
import pg0011 from "../../migrations/postgres/0011_run_validity_warnings.sql" with { type: "text" };
import pg0013 from "../../migrations/postgres/0013_cluster_nodes.sql" with { type: "text" };
import pg0014 from "../../migrations/postgres/0014_task_log_chunks.sql" with { type: "text" };
import pg0015 from "../../migrations/postgres/0015_alerts.sql" with { type: "text" };
import pg0016 from "../../migrations/postgres/0016_retention.sql" with { type: "text" };
import pg0017 from "../../migrations/postgres/0017_edge_workers.sql" with { type: "text" };
import pg0018 from "../../migrations/postgres/0018_run_request_keys.sql" with { type: "text" };
import pg0019 from "../../migrations/postgres/0019_instance_slot_function.sql" with { type: "text" };
import sqlite0001 from "../../migrations/sqlite/0001_init.sql" with { type: "text" };
import sqlite0002 from "../../migrations/sqlite/0002_runs.sql" with { type: "text" };
import sqlite0003 from "../../migrations/sqlite/0003_schedules.sql" with { type: "text" };
import sqlite0004 from "../../migrations/sqlite/0004_backfills.sql" with { type: "text" };
import sqlite0005 from "../../migrations/sqlite/0005_instance_columns.sql" with { type: "text" };
import sqlite0006 from "../../migrations/sqlite/0006_project_tenant.sql" with { type: "text" };
import sqlite0008 from "../../migrations/sqlite/0008_batch_commits.sql" with { type: "text" };
import sqlite0009 from "../../migrations/sqlite/0009_run_executor.sql" with { type: "text" };
import sqlite0011 from "../../migrations/sqlite/0011_run_validity_warnings.sql" with { type: "text" };
import sqlite0013 from "../../migrations/sqlite/0013_cluster_nodes.sql" with { type: "text" };
import sqlite0014 from "../../migrations/sqlite/0014_task_log_chunks.sql" with { type: "text" };
import sqlite0015 from "../../migrations/sqlite/0015_alerts.sql" with { type: "text" };
import sqlite0016 from "../../migrations/sqlite/0016_retention.sql" with { type: "text" };
import sqlite0017 from "../../migrations/sqlite/0017_edge_workers.sql" with { type: "text" };
import sqlite0018 from "../../migrations/sqlite/0018_run_request_keys.sql" with { type: "text" };
import sqlite0019 from "../../migrations/sqlite/0019_instance_slot_function.sql" with { type: "text" };
import type { Dialect } from "./store.ts";

export interface Migration {
  /** The number in the file name; applied in ascending order. */
  id: number;
  /** The file name, e.g. `0001_init.sql`. */
  name: string;
  sql: string;
  /** SHA-256 (hex) of `sql`: an applied migration whose file changed is refused. */
  checksum: string;
}

function migration(name: string, sql: string): Migration {
  const checksum = new Bun.CryptoHasher("sha256").update(sql).digest("hex");
  return { id: Number.parseInt(name, 10), name, sql, checksum };
}

export const migrations: Record<Dialect, readonly Migration[]> = {
  sqlite: [migration("0001_init.sql", sqlite0001), migration("0002_runs.sql", sqlite0002), migration("0003_schedules.sql", sqlite0003), migration("0004_backfills.sql", sqlite0004), migration("0005_instance_columns.sql", sqlite0005), migration("0006_project_tenant.sql", sqlite0006), migration("0008_batch_commits.sql", sqlite0008), migration("0009_run_executor.sql", sqlite0009), migration("0011_run_validity_warnings.sql", sqlite0011), migration("0013_cluster_nodes.sql", sqlite0013), migration("0014_task_log_chunks.sql", sqlite0014), migration("0015_alerts.sql", sqlite0015), migration("0016_retention.sql", sqlite0016), migration("0017_edge_workers.sql", sqlite0017), migration("0018_run_request_keys.sql", sqlite0018), migration("0019_instance_slot_function.sql", sqlite0019)],
  postgres: [migration("0001_init.sql", pg0001), migration("0002_runs.sql", pg0002), migration("0003_schedules.sql", pg0003), migration("0004_backfills.sql", pg0004), migration("0005_instance_columns.sql", pg0005), migration("0006_project_tenant.sql", pg0006), migration("0008_batch_commits.sql", pg0008), migration("0009_run_executor.sql", pg0009), migration("0011_run_validity_warnings.sql", pg0011), migration("0013_cluster_nodes.sql", pg0013), migration("0014_task_log_chunks.sql", pg0014), migration("0015_alerts.sql", pg0015), migration("0016_retention.sql", pg0016), migration("0017_edge_workers.sql", pg0017), migration("0018_run_request_keys.sql", pg0018), migration("0019_instance_slot_function.sql", pg0019)],
};
