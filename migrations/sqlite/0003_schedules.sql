-- porpoise schema 3 (SQLite): schedules that fire. Forward only; mirrors src/store/schema-sqlite.ts.

-- The scheduler's cursor: every fire at or before this instant was materialised (or skipped
-- on purpose by the catch-up policy). A restart resumes after it.
ALTER TABLE schedules ADD COLUMN last_fire_time INTEGER;
-- catchup = 'all' replays at most this many missed fires (the newest ones).
ALTER TABLE schedules ADD COLUMN catchup_max INTEGER NOT NULL DEFAULT 100;
-- The scheduler loads every ONLINE schedule at start.
CREATE INDEX schedules_release_state_idx ON schedules (release_state);
