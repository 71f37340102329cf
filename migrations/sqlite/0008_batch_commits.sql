-- porpoise schema 8 (SQLite): group-commit markers. Forward only; mirrors src/store/schema-sqlite.ts.

-- One row per master group commit (applyBatch with an id), written in the batch's own
-- transaction with the outcome of each op, so a batch retried after a failure whose outcome is
-- unknown is never applied twice (see migrations/postgres/0008_batch_commits.sql; on SQLite a
-- failed COMMIT is never ambiguous, the marker keeps the two dialects alike).
CREATE TABLE batch_commits (
  id TEXT PRIMARY KEY,
  outcomes TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX batch_commits_created_at ON batch_commits (created_at);
