-- porpoise schema 8 (Postgres): group-commit markers. Forward only; mirrors src/store/schema-pg.ts.

-- One row per master group commit (applyBatch with an id), written in the batch's own
-- transaction with the outcome of each op. When the connection is lost during COMMIT the master
-- cannot tell whether the batch applied; it retries with the same id, and the marker answers:
-- present — it committed, these were its outcomes (nothing is applied twice); absent — it did
-- not, apply it now. The primary key makes a retry racing a still-running COMMIT wait for it.
-- Rows are pruned after ten minutes (src/store/batch-commit-sql.ts).
CREATE TABLE batch_commits (
  id text PRIMARY KEY,
  outcomes text NOT NULL,
  created_at timestamptz(3) NOT NULL
);
CREATE INDEX batch_commits_created_at ON batch_commits (created_at);
