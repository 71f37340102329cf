-- porpoise schema 14 (SQLite): task logs shipped into the Store. Forward only; mirrors src/store/schema-sqlite.ts.

-- Chunks of an attempt's log file, shipped by a cluster worker (src/worker/log-shipper.ts) so any
-- api node serves the log (see migrations/postgres/0014_task_log_chunks.sql; `porpoise all` on
-- SQLite keeps local files, the table keeps the two dialects alike).
CREATE TABLE task_log_chunks (
  task_instance_id INTEGER NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  byte_offset INTEGER NOT NULL,
  data BLOB NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  PRIMARY KEY (task_instance_id, seq)
) STRICT;
CREATE INDEX task_log_chunks_offset ON task_log_chunks (task_instance_id, byte_offset);
