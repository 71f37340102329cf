-- porpoise schema 13 (SQLite): issue 10, the node registry and the record of slot lease changes
-- (docs/architecture.md §3.3). Forward only; mirrors src/store/schema-sqlite.ts. `porpoise all`
-- on SQLite registers its one node here; slot leases live in Postgres only.

ALTER TABLE cluster_nodes ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE cluster_nodes ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cluster_nodes ADD COLUMN slots TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cluster_nodes ADD COLUMN pid INTEGER;
CREATE INDEX cluster_nodes_role_heartbeat_idx ON cluster_nodes (role, heartbeat_at);

CREATE TABLE slot_lease_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  slot INTEGER NOT NULL,
  owner TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  prev_owner TEXT,
  prev_expires_at INTEGER
) STRICT;
CREATE INDEX slot_lease_log_slot_idx ON slot_lease_log (slot, epoch);
