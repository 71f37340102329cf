-- porpoise schema 4 (SQLite): backfills (DolphinScheduler's "complement data"). Forward only;
-- mirrors src/store/schema-sqlite.ts.

-- One backfill: the planned fire times (in run order) and its progress. The master creates the
-- next instance and bumps `created` in one transaction, so a restart resumes from the Store.
CREATE TABLE backfills (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  workflow_id INTEGER NOT NULL REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  schedule_id INTEGER REFERENCES schedules (id) ON DELETE SET NULL,
  state TEXT NOT NULL CHECK (state IN ('RUNNING', 'SUCCESS', 'FAILURE', 'STOPPED')),
  run_mode TEXT NOT NULL CHECK (run_mode IN ('serial', 'parallel')),
  max_parallelism INTEGER NOT NULL,
  on_failure TEXT NOT NULL CHECK (on_failure IN ('stop', 'continue')),
  failure_strategy TEXT NOT NULL DEFAULT 'END',
  priority TEXT NOT NULL DEFAULT 'MEDIUM',
  worker_group TEXT NOT NULL DEFAULT 'default',
  params TEXT NOT NULL DEFAULT '{}',
  plan TEXT NOT NULL,
  total INTEGER NOT NULL,
  created INTEGER NOT NULL DEFAULT 0,
  succeeded INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX backfills_project_idx ON backfills (project_id, id);
CREATE INDEX backfills_state_idx ON backfills (state);

ALTER TABLE workflow_instances ADD COLUMN backfill_id INTEGER REFERENCES backfills (id) ON DELETE SET NULL;
CREATE INDEX workflow_instances_backfill_idx ON workflow_instances (backfill_id);
