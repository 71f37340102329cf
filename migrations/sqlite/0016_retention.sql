-- porpoise schema 16 (SQLite): indexes for retention (issue 11). Forward only; mirrors src/store/schema-sqlite.ts.

-- The age rule of a sweep: finished instances by end time (src/store/retention.ts).
CREATE INDEX workflow_instances_end_time_idx ON workflow_instances (end_time);
-- The count rule: a workflow's instances newest first.
CREATE INDEX workflow_instances_workflow_id_idx ON workflow_instances (workflow_id, id);
-- Deleting an instance cascades to its commands and sets its children's parent to NULL; without
-- these, each deleted instance (and attempt) would scan commands and workflow_instances whole.
CREATE INDEX commands_workflow_instance_idx ON commands (workflow_instance_id);
CREATE INDEX workflow_instances_parent_task_idx ON workflow_instances (parent_task_instance_id);
