-- porpoise schema 5 (Postgres): workflow instance columns for issue 4. Forward only;
-- mirrors src/store/schema-pg.ts.

-- The zone of the run's built-in time params, fixed when the instance is created (the schedule's
-- zone for scheduled and backfill runs, else UTC), so editing a schedule later does not move the
-- dates of a run that exists already. Existing rows take their schedule's zone, as they did so far.
ALTER TABLE workflow_instances ADD COLUMN timezone text NOT NULL DEFAULT 'UTC';
UPDATE workflow_instances
SET timezone = (SELECT s.timezone FROM schedules s WHERE s.id = workflow_instances.schedule_id)
WHERE schedule_id IS NOT NULL;

-- Why the instance ended the way it did when its state does not say (discarded by a serial
-- execution type, refused control, workflow timeout, …). NULL when there is nothing to add.
ALTER TABLE workflow_instances ADD COLUMN message text;

-- The control (resume / rerun / recover-failed) that submitted the instance again, written in the
-- same transaction as its new state: the master that starts it applies that control's start mode,
-- also when it starts only later — after waiting in SERIAL_WAIT behind another run of a serial
-- workflow, or after a restart. Meaningful only while the instance is SERIAL_WAIT or SUBMITTED_SUCCESS.
ALTER TABLE workflow_instances ADD COLUMN pending_control text CHECK (pending_control IN ('resume', 'rerun', 'recover-failed'));
