-- porpoise schema 15 (SQLite): alerting (issue 11). Forward only; mirrors src/store/schema-sqlite.ts.

-- Where alerts go. project_id NULL: a global channel (admins only), usable by every project's
-- groups. settings: the type's non-secret fields (JSON); secrets: the type's secret fields as
-- JSON sealed like datasource passwords ("plain:…" / "aes-gcm:…", src/store/datasources.ts),
-- never returned by the API. SQLite's UNIQUE lets NULLs repeat: the store refuses a second global
-- channel of one name in the insert's transaction (one writer).
CREATE TABLE alert_channels (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER REFERENCES projects (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('webhook', 'slack', 'email', 'pagerduty')),
  description TEXT NOT NULL DEFAULT '',
  settings TEXT NOT NULL DEFAULT '{}',
  secrets TEXT,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CONSTRAINT alert_channels_project_name_unique UNIQUE (project_id, name)
) STRICT;

-- Channels together (DolphinScheduler's alert group): ids of the project's or global channels.
CREATE TABLE alert_groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  channel_ids TEXT NOT NULL DEFAULT '[]',
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CONSTRAINT alert_groups_project_name_unique UNIQUE (project_id, name)
) STRICT;

-- When to alert whom: on a workflow (all its runs) or a schedule (its runs and misfires).
-- events is a bit mask (src/store/alert-events.ts), so the end of a run finds its policies with
-- one indexed lookup and a bitwise test in both dialects.
CREATE TABLE alert_policies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  workflow_id INTEGER REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  schedule_id INTEGER REFERENCES schedules (id) ON DELETE CASCADE,
  group_id INTEGER NOT NULL REFERENCES alert_groups (id) ON DELETE RESTRICT,
  events INTEGER NOT NULL,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  CHECK ((workflow_id IS NULL) <> (schedule_id IS NULL))
) STRICT;
CREATE INDEX alert_policies_workflow_idx ON alert_policies (workflow_id);
CREATE INDEX alert_policies_schedule_idx ON alert_policies (schedule_id);
CREATE INDEX alert_policies_group_idx ON alert_policies (group_id);

-- The outbox: one row per (event, policy), written in the transaction of the state change
-- that causes it (the group commit of an instance's end, a WARN timeout, a misfire), delivered
-- by the masters' delivery loop (src/alerts/delivery-loop.ts), which claims rows with a lease
-- (claimed_until; FOR UPDATE SKIP LOCKED on Postgres) and retries with backoff (next_at). No foreign keys:
-- an alert outlives what it names.
CREATE TABLE alert_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  kind TEXT NOT NULL,
  project_id INTEGER NOT NULL,
  workflow_id INTEGER,
  schedule_id INTEGER,
  workflow_instance_id INTEGER,
  task_instance_id INTEGER,
  policy_id INTEGER,
  channel_id INTEGER,
  state TEXT,
  message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  claimed_by TEXT,
  claimed_until INTEGER,
  done_at INTEGER,
  last_error TEXT
) STRICT;
CREATE INDEX alert_outbox_due_idx ON alert_outbox (done_at, next_at);

-- Every delivery attempt to one channel: what the API shows.
CREATE TABLE alert_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  outbox_id INTEGER NOT NULL,
  project_id INTEGER NOT NULL,
  channel_id INTEGER NOT NULL,
  channel_name TEXT NOT NULL,
  channel_type TEXT NOT NULL,
  kind TEXT NOT NULL,
  workflow_instance_id INTEGER,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX alert_deliveries_project_idx ON alert_deliveries (project_id, id);
CREATE INDEX alert_deliveries_outbox_idx ON alert_deliveries (outbox_id);
