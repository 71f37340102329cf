-- porpoise schema 18 (SQLite): run requests that can be retried (docs/architecture.md §3.5). Forward
-- only; mirrors src/store/schema-sqlite.ts.

-- The Idempotency-Key of the POST …/run that created the instance: a retry of that request (its
-- answer lost to a timeout, a dropped connection or a store that failed after the commit) finds the
-- instance it already created instead of starting a second run. Unique per project; NULL (every
-- run created without a key) never collides.
ALTER TABLE workflow_instances ADD COLUMN request_key text;
CREATE UNIQUE INDEX workflow_instances_request_key_unique ON workflow_instances (project_id, request_key);
