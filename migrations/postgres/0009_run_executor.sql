-- porpoise schema 9 (Postgres): who a run acts for, and how deep a sub_workflow child is nested
-- (issue 9 items 2 and 11). Forward only; mirrors src/store/schema-pg.ts.

-- The user whose project rights a run uses when it reaches into another project (a sub_workflow
-- child or a dependent check there): the user who started it, or for a child its parent's.
-- NULL for scheduled and backfill runs (their schedule's / backfill's creator counts) and for
-- runs whose user was deleted (then no other project may be reached).
ALTER TABLE workflow_instances ADD COLUMN executor_id bigint REFERENCES users(id) ON DELETE SET NULL;

-- 0 for a run started by a user, a schedule or a backfill; a sub_workflow child is its parent's
-- depth + 1. The master refuses to nest deeper than its fixed limit (master/sub-workflow-rules.ts).
ALTER TABLE workflow_instances ADD COLUMN depth integer NOT NULL DEFAULT 0;
