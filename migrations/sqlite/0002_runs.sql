-- porpoise schema 2 (SQLite): running workflows. Forward only; mirrors src/store/schema-sqlite.ts.

-- How the run was asked for (startTasks + dependType), kept on the instance so a rerun,
-- recover-failed or a restarted master can rebuild the same plan.
ALTER TABLE workflow_instances ADD COLUMN start_tasks TEXT;
ALTER TABLE workflow_instances ADD COLUMN depend_type TEXT;
ALTER TABLE workflow_instances ADD COLUMN run_times INTEGER NOT NULL DEFAULT 1;
-- Restart recovery lists the non-terminal instances of the slots a master owns.
CREATE INDEX workflow_instances_slot_state_idx ON workflow_instances (slot, state);
-- Listing a project's instances newest first, with paging.
CREATE INDEX workflow_instances_project_idx ON workflow_instances (project_id, id);

-- Earliest time an attempt may be dispatched (delay, retry interval): survives a restart.
ALTER TABLE task_instances ADD COLUMN not_before INTEGER;
-- Why an attempt ended as it did when the exit code does not say (timeout, worker lost, killed).
ALTER TABLE task_instances ADD COLUMN message TEXT;

-- Postgres connections for the sql task type. RESTRICT: a project with datasources is not empty.
CREATE TABLE datasources (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('postgres')),
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  database TEXT NOT NULL,
  username TEXT NOT NULL,
  -- "plain:<password>" or "aes-gcm:<iv>:<ciphertext+tag>" (base64); never returned by list/get.
  password TEXT,
  params TEXT NOT NULL DEFAULT '{}',
  description TEXT NOT NULL DEFAULT '',
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CONSTRAINT datasources_project_name_unique UNIQUE (project_id, name)
) STRICT;
