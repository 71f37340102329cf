-- porpoise schema 19 (SQLite): nothing. On Postgres this adds porpoise_slot_of_instance, so an
-- API run draws its id and writes its slot in one statement; SQLite has no round trips to save
-- and keeps computing the slot in the process (src/coordinator/coordinator.ts slotOfInstance).
SELECT 1;
