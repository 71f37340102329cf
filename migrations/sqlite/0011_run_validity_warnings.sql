-- porpoise schema 11 (SQLite): issue 9 items 10 and 16. Forward only; mirrors src/store/schema-sqlite.ts.

-- Item 10: a rerun starts the instance over, so the attempts of the runs before it no longer say
-- what is done. DolphinScheduler marks them invalid (task_instance.flag = NO); here the rerun's
-- transaction sets `superseded` on every attempt the instance has, and resume, recover-failed and
-- restart recovery look only at the attempts that are not superseded. The rows stay as history.
ALTER TABLE task_instances ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;

-- Item 16: a timeout with strategy WARN lets the attempt run on and records why here (NULL: none).
ALTER TABLE task_instances ADD COLUMN warning TEXT;

-- Item 16: events that alerting can deliver later (an outbox). Nothing delivers them yet, so
-- delivered_at stays NULL and nothing claims a delivery. No foreign keys: events outlive what they name.
CREATE TABLE alert_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  kind TEXT NOT NULL,
  project_id INTEGER,
  workflow_instance_id INTEGER,
  task_instance_id INTEGER,
  message TEXT NOT NULL,
  delivered_at INTEGER
) STRICT;
CREATE INDEX alert_events_pending_idx ON alert_events (delivered_at, id);
