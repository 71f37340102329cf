// The cluster's coordination tables (SQLite): node registry, slot leases and their log, and the
// group-commit markers; re-exported by schema-sqlite.ts.

import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { id, time, createdAt, json } from "./schema-sqlite-columns.ts";

export const clusterNodes = sqliteTable(
  "cluster_nodes",
  {
    id: text().primaryKey(),
    role: text().notNull(),
    host: text().notNull(),
    startedAt: time("started_at").notNull(),
    heartbeatAt: time("heartbeat_at").notNull(),
    version: text().notNull().default(""),
    groups: json<string[]>("groups").notNull().default([]),
    slots: json<number[]>("slots").notNull().default([]),
    pid: integer(),
  },
  (t) => [index("cluster_nodes_role_heartbeat_idx").on(t.role, t.heartbeatAt)],
);

export const slotLeases = sqliteTable("slot_leases", {
  slot: integer().primaryKey(),
  owner: text(),
  epoch: integer().notNull().default(0),
  expiresAt: time("expires_at"),
});

/** Every change of a slot's owner (acquire, takeover, release), on the database clock. */
export const slotLeaseLog = sqliteTable(
  "slot_lease_log",
  {
    id: id(),
    slot: integer().notNull(),
    owner: text().notNull(),
    epoch: integer().notNull(),
    kind: text().notNull(),
    at: time("at").notNull(),
    expiresAt: time("expires_at").notNull(),
    prevOwner: text("prev_owner"),
    prevExpiresAt: time("prev_expires_at"),
  },
  (t) => [index("slot_lease_log_slot_idx").on(t.slot, t.epoch)],
);

/** Group-commit markers (migration 0008): a batch retried after an unknown outcome is not applied twice. */
export const batchCommits = sqliteTable(
  "batch_commits",
  {
    id: text().primaryKey(),
    outcomes: text().notNull(),
    createdAt: time("created_at").notNull(),
  },
  (t) => [index("batch_commits_created_at").on(t.createdAt)],
);
