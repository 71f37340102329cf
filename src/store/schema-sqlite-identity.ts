// Users, API tokens, projects and their members (SQLite); re-exported by schema-sqlite.ts, whose
// header says how the two dialects are kept alike.

import { index, primaryKey, sqliteTable, text, unique } from "drizzle-orm/sqlite-core";
import { PROJECT_ROLES, TOKEN_KINDS, type StringMap } from "./model.ts";
import { id, ref, time, createdAt, updatedAt, json, boolean, emptyObject } from "./schema-sqlite-columns.ts";

export const users = sqliteTable("users", {
  id: id(),
  name: text().notNull().unique("users_name_unique"),
  passwordHash: text("password_hash"),
  isAdmin: boolean("is_admin").notNull().default(false),
  disabled: boolean("disabled").notNull().default(false),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: id(),
    userId: ref("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    name: text().notNull(),
    kind: text({ enum: TOKEN_KINDS }).notNull(),
    tokenHash: text("token_hash").notNull().unique("api_tokens_token_hash_unique"),
    prefix: text().notNull(),
    createdAt: createdAt(),
    expiresAt: time("expires_at"),
    revokedAt: time("revoked_at"),
    lastUsedAt: time("last_used_at"),
  },
  (t) => [index("api_tokens_user_idx").on(t.userId)],
);

export const projects = sqliteTable("projects", {
  id: id(),
  name: text().notNull().unique("projects_name_unique"),
  description: text().notNull().default(""),
  params: json<StringMap>("params").notNull().default(emptyObject),
  createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  /** OS user its shell/python tasks run as (migration 0006); null = the default task user. */
  tenant: text(),
});

export const projectMembers = sqliteTable(
  "project_members",
  {
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    userId: ref("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    role: text({ enum: PROJECT_ROLES }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.userId] }), index("project_members_user_idx").on(t.userId)],
);
