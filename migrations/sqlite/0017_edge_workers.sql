-- porpoise schema 17 (SQLite): issue 13, edge workers (docs/architecture.md §3.12). Forward only;
-- mirrors src/store/schema-sqlite.ts.

-- Worker tokens: what an edge worker presents to the gateway. A table of their own, not a kind of
-- api token: the user routes authenticate against api_tokens only, so a worker token can do nothing
-- there. Only the SHA-256 of the token is stored; groups (and labels) scope what it may run.
CREATE TABLE worker_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  groups TEXT NOT NULL DEFAULT '[]',
  labels TEXT NOT NULL DEFAULT '{}',
  token_hash TEXT NOT NULL CONSTRAINT worker_tokens_token_hash_unique UNIQUE,
  prefix TEXT NOT NULL,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER
) STRICT;

-- One row per edge worker id: its current session (a new register takes it over), what it said
-- about itself, the attempts it runs (from its heartbeats) and when it last beat (database clock).
-- The gateway reruns the attempts of a worker silent for a lease (api/edge/edge-sweep.ts).
CREATE TABLE edge_workers (
  id TEXT PRIMARY KEY,
  token_id INTEGER REFERENCES worker_tokens (id) ON DELETE SET NULL,
  session TEXT NOT NULL,
  host TEXT NOT NULL,
  version TEXT NOT NULL,
  arch TEXT NOT NULL,
  platform TEXT NOT NULL,
  groups TEXT NOT NULL DEFAULT '[]',
  slots INTEGER NOT NULL,
  running TEXT NOT NULL DEFAULT '[]',
  registered_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
) STRICT;
CREATE INDEX edge_workers_heartbeat_idx ON edge_workers (heartbeat_at);
