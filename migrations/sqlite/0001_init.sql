-- porpoise schema 1 (SQLite). Forward only: never edit once released; add 0002_….sql instead.
-- Mirrors src/store/schema-sqlite.ts; test/integration/store/schema-drift.test.ts keeps them in step.

CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL CONSTRAINT users_name_unique UNIQUE,
  password_hash TEXT,
  is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
  token_hash TEXT NOT NULL CONSTRAINT api_tokens_token_hash_unique UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER
) STRICT;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE projects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL CONSTRAINT projects_name_unique UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  params TEXT NOT NULL DEFAULT '{}',
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;

CREATE TABLE project_members (
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('owner', 'developer', 'viewer')),
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  PRIMARY KEY (project_id, user_id)
) STRICT;
CREATE INDEX project_members_user_idx ON project_members (user_id);

-- RESTRICT: a project is deleted only once it holds no workflows.
CREATE TABLE workflow_definitions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  current_version INTEGER NOT NULL,
  latest_version INTEGER NOT NULL,
  release_state TEXT NOT NULL CHECK (release_state IN ('ONLINE', 'OFFLINE')),
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CONSTRAINT workflow_definitions_project_name_unique UNIQUE (project_id, name),
  CHECK (current_version BETWEEN 1 AND latest_version)
) STRICT;

CREATE TABLE workflow_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow_id INTEGER NOT NULL REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CONSTRAINT workflow_versions_workflow_version_unique UNIQUE (workflow_id, version)
) STRICT;

-- Stored versions are immutable: the only way to change a workflow is a new version.
CREATE TRIGGER workflow_versions_immutable BEFORE UPDATE ON workflow_versions
BEGIN
  SELECT RAISE(ABORT, 'workflow versions are immutable: store a new version instead');
END;

CREATE TABLE schedules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  workflow_id INTEGER NOT NULL REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  cron TEXT NOT NULL,
  timezone TEXT NOT NULL DEFAULT 'UTC',
  start_time INTEGER,
  end_time INTEGER,
  release_state TEXT NOT NULL DEFAULT 'OFFLINE' CHECK (release_state IN ('ONLINE', 'OFFLINE')),
  failure_strategy TEXT NOT NULL DEFAULT 'END',
  priority TEXT NOT NULL DEFAULT 'MEDIUM',
  worker_group TEXT NOT NULL DEFAULT 'default',
  params TEXT NOT NULL DEFAULT '{}',
  catchup TEXT NOT NULL DEFAULT 'none' CHECK (catchup IN ('none', 'latest', 'all')),
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX schedules_workflow_idx ON schedules (workflow_id);

CREATE TABLE commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  workflow_id INTEGER REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  workflow_instance_id INTEGER REFERENCES workflow_instances (id) ON DELETE CASCADE,
  payload TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'PENDING',
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  consumed_at INTEGER,
  consumed_by TEXT
) STRICT;
CREATE INDEX commands_state_idx ON commands (state, id);

CREATE TABLE workflow_instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  workflow_id INTEGER NOT NULL REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  workflow_version INTEGER NOT NULL,
  state TEXT NOT NULL,
  run_type TEXT NOT NULL,
  slot INTEGER NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0,
  priority TEXT NOT NULL DEFAULT 'MEDIUM',
  worker_group TEXT NOT NULL DEFAULT 'default',
  failure_strategy TEXT NOT NULL DEFAULT 'END',
  params TEXT NOT NULL DEFAULT '{}',
  schedule_id INTEGER REFERENCES schedules (id) ON DELETE SET NULL,
  schedule_time INTEGER,
  command_id INTEGER REFERENCES commands (id) ON DELETE SET NULL,
  parent_task_instance_id INTEGER REFERENCES task_instances (id) ON DELETE SET NULL,
  dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
  host TEXT,
  start_time INTEGER,
  end_time INTEGER,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  -- A cron fire is unique in the Store itself; manual runs carry NULLs, which never collide.
  CONSTRAINT workflow_instances_schedule_fire_unique UNIQUE (schedule_id, schedule_time)
) STRICT;
CREATE INDEX workflow_instances_state_idx ON workflow_instances (state);
CREATE INDEX workflow_instances_workflow_state_idx ON workflow_instances (workflow_id, state);

CREATE TABLE task_instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow_instance_id INTEGER NOT NULL REFERENCES workflow_instances (id) ON DELETE CASCADE,
  task_name TEXT NOT NULL,
  task_type TEXT NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1,
  dispatch_token TEXT,
  slot INTEGER NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0,
  worker_group TEXT NOT NULL DEFAULT 'default',
  priority TEXT NOT NULL DEFAULT 'MEDIUM',
  host TEXT,
  submit_time INTEGER,
  start_time INTEGER,
  end_time INTEGER,
  params TEXT NOT NULL DEFAULT '{}',
  output TEXT,
  exit_code INTEGER,
  log_path TEXT,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CONSTRAINT task_instances_attempt_unique UNIQUE (workflow_instance_id, task_name, attempt)
) STRICT;
CREATE INDEX task_instances_state_idx ON task_instances (state);

-- No foreign keys: the trail outlives the users and projects it mentions.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  actor_id INTEGER,
  actor_name TEXT NOT NULL,
  action TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  project_id INTEGER,
  version_before INTEGER,
  version_after INTEGER,
  details TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_log_project_idx ON audit_log (project_id, id);

CREATE TABLE cluster_nodes (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  host TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
) STRICT;

CREATE TABLE slot_leases (
  slot INTEGER PRIMARY KEY,
  owner TEXT,
  epoch INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER
) STRICT;
