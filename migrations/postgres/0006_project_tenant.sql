-- porpoise schema 6 (Postgres): the project's tenant (issue 9). Forward only; mirrors
-- src/store/schema-pg.ts.

-- The OS user the project's shell and python tasks run as when porpoise runs as root
-- (DolphinScheduler's tenant). NULL: the default task user (--task-user). Only an administrator
-- sets it (PUT /api/v1/projects/:project/tenant).
ALTER TABLE projects ADD COLUMN tenant text;
