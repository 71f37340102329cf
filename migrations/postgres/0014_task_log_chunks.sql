-- porpoise schema 14 (Postgres): task logs shipped into the Store. Forward only; mirrors src/store/schema-pg.ts.

-- A cluster worker ships each attempt's log file here as ordered chunks (src/worker/log-shipper.ts),
-- so any api node serves the log and its live follow, and the log outlives the worker's machine
-- (DolphinScheduler loses it: its issue #3298). A chunk is the file's bytes from byte_offset on;
-- seq grows with byte_offset. The primary key makes a replayed chunk a no-op (ON CONFLICT DO
-- NOTHING), never a duplicate. The index finds the chunk holding a byte offset for a page read.
-- Bytes, not text: a chunk may end inside a UTF-8 character, and reads cut pages on line ends.
CREATE TABLE task_log_chunks (
  task_instance_id bigint NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  byte_offset bigint NOT NULL,
  data bytea NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (task_instance_id, seq)
);
CREATE INDEX task_log_chunks_offset ON task_log_chunks (task_instance_id, byte_offset);
