// SQLite tables: the same tables, column names and TypeScript value types as schema-pg.ts
// (checked at compile time in dialect.ts and against the migrated databases in
// test/integration/store/schema-drift.test.ts). Timestamps are integer milliseconds, JSON is
// text, booleans are 0/1 — drizzle maps them to the same Date / object / boolean values.

import {
  type AnySQLiteColumn,
  blob,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  unique,
} from "drizzle-orm/sqlite-core";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import { type CommandState, type CommandType, DATASOURCE_TYPES, type PendingControl, type TaskInstanceState, type WorkflowInstanceState } from "./store.ts";
import {
  ALERT_CHANNEL_TYPES,
  CATCHUP_MODES,
  RELEASE_STATES,
  type JsonObject,
  type StringMap,
} from "./model.ts";
import { id, ref, time, createdAt, updatedAt, json, boolean, emptyObject } from "./schema-sqlite-columns.ts";
import { projects, users } from "./schema-sqlite-identity.ts";

export * from "./schema-sqlite-identity.ts";
export * from "./schema-sqlite-cluster.ts";

export const workflowDefinitions = sqliteTable(
  "workflow_definitions",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "restrict" }),
    name: text().notNull(),
    description: text().notNull().default(""),
    currentVersion: integer("current_version").notNull(),
    latestVersion: integer("latest_version").notNull(),
    releaseState: text("release_state", { enum: RELEASE_STATES }).notNull(),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [unique("workflow_definitions_project_name_unique").on(t.projectId, t.name)],
);

export const workflowVersions = sqliteTable(
  "workflow_versions",
  {
    id: id(),
    workflowId: ref("workflow_id").notNull().references(() => workflowDefinitions.id, { onDelete: "cascade" }),
    version: integer().notNull(),
    definition: json<WorkflowDefinition>("definition").notNull(),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
  },
  (t) => [unique("workflow_versions_workflow_version_unique").on(t.workflowId, t.version)],
);

export const schedules = sqliteTable(
  "schedules",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    workflowId: ref("workflow_id").notNull().references(() => workflowDefinitions.id, { onDelete: "cascade" }),
    cron: text().notNull(),
    timezone: text().notNull().default("UTC"),
    startTime: time("start_time"),
    endTime: time("end_time"),
    releaseState: text("release_state", { enum: RELEASE_STATES }).notNull().default("OFFLINE"),
    failureStrategy: text("failure_strategy").notNull().default("END"),
    priority: text().notNull().default("MEDIUM"),
    workerGroup: text("worker_group").notNull().default("default"),
    params: json<StringMap>("params").notNull().default(emptyObject),
    catchup: text({ enum: CATCHUP_MODES }).notNull().default("none"),
    lastFireTime: time("last_fire_time"),
    catchupMax: integer("catchup_max").notNull().default(100),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("schedules_workflow_idx").on(t.workflowId), index("schedules_release_state_idx").on(t.releaseState)],
);

export const commands = sqliteTable(
  "commands",
  {
    id: id(),
    type: text().$type<CommandType>().notNull(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    workflowId: ref("workflow_id").references(() => workflowDefinitions.id, { onDelete: "cascade" }),
    workflowInstanceId: ref("workflow_instance_id").references((): AnySQLiteColumn => workflowInstances.id, {
      onDelete: "cascade",
    }),
    payload: json<JsonObject>("payload").notNull().default(emptyObject),
    state: text().$type<CommandState>().notNull().default("PENDING"),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    consumedAt: time("consumed_at"),
    consumedBy: text("consumed_by"),
  },
  (t) => [index("commands_state_idx").on(t.state, t.id), index("commands_workflow_instance_idx").on(t.workflowInstanceId)],
);

export const workflowInstances = sqliteTable(
  "workflow_instances",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    workflowId: ref("workflow_id").notNull().references(() => workflowDefinitions.id, { onDelete: "cascade" }),
    workflowVersion: integer("workflow_version").notNull(),
    state: text().$type<WorkflowInstanceState>().notNull(),
    runType: text("run_type").notNull(),
    slot: integer().notNull(),
    epoch: integer().notNull().default(0),
    priority: text().notNull().default("MEDIUM"),
    workerGroup: text("worker_group").notNull().default("default"),
    failureStrategy: text("failure_strategy").notNull().default("END"),
    params: json<StringMap>("params").notNull().default(emptyObject),
    scheduleId: ref("schedule_id").references(() => schedules.id, { onDelete: "set null" }),
    scheduleTime: time("schedule_time"),
    commandId: ref("command_id").references(() => commands.id, { onDelete: "set null" }),
    parentTaskInstanceId: ref("parent_task_instance_id").references((): AnySQLiteColumn => taskInstances.id, {
      onDelete: "set null",
    }),
    dryRun: boolean("dry_run").notNull().default(false),
    host: text(),
    startTime: time("start_time"),
    endTime: time("end_time"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    startTasks: json<string[]>("start_tasks"),
    dependType: text("depend_type"),
    runTimes: integer("run_times").notNull().default(1),
    backfillId: ref("backfill_id").references((): AnySQLiteColumn => backfills.id, { onDelete: "set null" }),
    timezone: text().notNull().default("UTC"),
    message: text(),
    pendingControl: text("pending_control").$type<PendingControl>(),
    executorId: ref("executor_id").references(() => users.id, { onDelete: "set null" }),
    depth: integer().notNull().default(0),
    /** The Idempotency-Key of the run request that created it (0018). */
    requestKey: text("request_key"),
  },
  (t) => [
    index("workflow_instances_backfill_idx").on(t.backfillId),
    // A cron fire is unique in the Store itself (docs/architecture.md §3.5); manual runs have NULLs, which never collide.
    // A retried run request finds its instance (0018); runs without a key have NULLs, which never collide.
    unique("workflow_instances_request_key_unique").on(t.projectId, t.requestKey),
    unique("workflow_instances_schedule_fire_unique").on(t.scheduleId, t.scheduleTime),
    index("workflow_instances_state_idx").on(t.state),
    index("workflow_instances_workflow_state_idx").on(t.workflowId, t.state),
    index("workflow_instances_slot_state_idx").on(t.slot, t.state),
    index("workflow_instances_project_idx").on(t.projectId, t.id),
    // Retention (0016): the age and count rules, and the cascades of a delete.
    index("workflow_instances_end_time_idx").on(t.endTime),
    index("workflow_instances_workflow_id_idx").on(t.workflowId, t.id),
    index("workflow_instances_parent_task_idx").on(t.parentTaskInstanceId),
  ],
);

export const taskInstances = sqliteTable(
  "task_instances",
  {
    id: id(),
    workflowInstanceId: ref("workflow_instance_id")
      .notNull()
      .references(() => workflowInstances.id, { onDelete: "cascade" }),
    taskName: text("task_name").notNull(),
    taskType: text("task_type").notNull(),
    state: text().$type<TaskInstanceState>().notNull(),
    attempt: integer().notNull().default(1),
    dispatchToken: text("dispatch_token"),
    slot: integer().notNull(),
    epoch: integer().notNull().default(0),
    workerGroup: text("worker_group").notNull().default("default"),
    priority: text().notNull().default("MEDIUM"),
    host: text(),
    submitTime: time("submit_time"),
    startTime: time("start_time"),
    endTime: time("end_time"),
    params: json<StringMap>("params").notNull().default(emptyObject),
    output: json<StringMap>("output"),
    exitCode: integer("exit_code"),
    logPath: text("log_path"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    notBefore: time("not_before"),
    message: text(),
    superseded: boolean("superseded").notNull().default(false),
    warning: text(),
  },
  (t) => [
    unique("task_instances_attempt_unique").on(t.workflowInstanceId, t.taskName, t.attempt),
    index("task_instances_state_idx").on(t.state),
  ],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: id(),
    at: time("at").notNull().$defaultFn(() => new Date()),
    // No foreign keys: the trail outlives the users and projects it mentions.
    actorId: integer("actor_id"),
    actorName: text("actor_name").notNull(),
    action: text().notNull(),
    objectType: text("object_type").notNull(),
    objectId: text("object_id").notNull(),
    projectId: integer("project_id"),
    versionBefore: integer("version_before"),
    versionAfter: integer("version_after"),
    details: json<JsonObject>("details").notNull().default(emptyObject),
  },
  (t) => [index("audit_log_project_idx").on(t.projectId, t.id)],
);

// WARN timeouts as recorded events (issue 9 item 16). Delivery goes through alert_outbox
// (migration 0015); deliveredAt stays null here. No foreign keys: events outlive what they name.
export const alertEvents = sqliteTable(
  "alert_events",
  {
    id: id(),
    at: time("at").notNull().$defaultFn(() => new Date()),
    kind: text().notNull(),
    projectId: integer("project_id"),
    workflowInstanceId: integer("workflow_instance_id"),
    taskInstanceId: integer("task_instance_id"),
    message: text().notNull(),
    deliveredAt: time("delivered_at"),
  },
  (t) => [index("alert_events_pending_idx").on(t.deliveredAt, t.id)],
);

export const datasources = sqliteTable(
  "datasources",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "restrict" }),
    name: text().notNull(),
    type: text({ enum: DATASOURCE_TYPES }).notNull(),
    host: text().notNull(),
    port: integer().notNull(),
    database: text().notNull(),
    username: text().notNull(),
    password: text(),
    params: json<StringMap>("params").notNull().default(emptyObject),
    description: text().notNull().default(""),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [unique("datasources_project_name_unique").on(t.projectId, t.name)],
);

export const backfills = sqliteTable(
  "backfills",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    workflowId: ref("workflow_id").notNull().references(() => workflowDefinitions.id, { onDelete: "cascade" }),
    scheduleId: ref("schedule_id").references(() => schedules.id, { onDelete: "set null" }),
    state: text({ enum: ["RUNNING", "SUCCESS", "FAILURE", "STOPPED"] }).notNull(),
    runMode: text("run_mode", { enum: ["serial", "parallel"] }).notNull(),
    maxParallelism: integer("max_parallelism").notNull(),
    onFailure: text("on_failure", { enum: ["stop", "continue"] }).notNull(),
    failureStrategy: text("failure_strategy").notNull().default("END"),
    priority: text().notNull().default("MEDIUM"),
    workerGroup: text("worker_group").notNull().default("default"),
    params: json<StringMap>("params").notNull().default(emptyObject),
    /** Planned fire times, ISO-8601, in run order. */
    plan: json<string[]>("plan").notNull(),
    total: integer().notNull(),
    created: integer().notNull().default(0),
    succeeded: integer().notNull().default(0),
    failed: integer().notNull().default(0),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("backfills_project_idx").on(t.projectId, t.id), index("backfills_state_idx").on(t.state)],
);

/** Task logs shipped by cluster workers (migration 0014, src/store/log-chunks.ts). */
export const taskLogChunks = sqliteTable(
  "task_log_chunks",
  {
    taskInstanceId: ref("task_instance_id")
      .notNull()
      .references(() => taskInstances.id, { onDelete: "cascade" }),
    seq: integer().notNull(),
    byteOffset: integer("byte_offset").notNull(),
    data: blob("data", { mode: "buffer" }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.taskInstanceId, t.seq] }), index("task_log_chunks_offset").on(t.taskInstanceId, t.byteOffset)],
);

/** Worker tokens of edge workers (migration 0017, src/store/edge-workers.ts). */
export const workerTokens = sqliteTable("worker_tokens", {
  id: id(),
  name: text().notNull(),
  groups: json<string[]>("groups").notNull().default([]),
  labels: json<StringMap>("labels").notNull().default(emptyObject),
  tokenHash: text("token_hash").notNull().unique("worker_tokens_token_hash_unique"),
  prefix: text().notNull(),
  createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
  createdAt: createdAt(),
  expiresAt: time("expires_at"),
  revokedAt: time("revoked_at"),
  lastUsedAt: time("last_used_at"),
});

/** Edge workers and their sessions (migration 0017, src/store/edge-workers.ts). */
export const edgeWorkers = sqliteTable(
  "edge_workers",
  {
    id: text().primaryKey(),
    tokenId: ref("token_id").references(() => workerTokens.id, { onDelete: "set null" }),
    session: text().notNull(),
    host: text().notNull(),
    version: text().notNull(),
    arch: text().notNull(),
    platform: text().notNull(),
    groups: json<string[]>("groups").notNull().default([]),
    slots: integer().notNull(),
    running: json<unknown[]>("running").notNull().default([]),
    registeredAt: time("registered_at").notNull(),
    heartbeatAt: time("heartbeat_at").notNull(),
  },
  (t) => [index("edge_workers_heartbeat_idx").on(t.heartbeatAt)],
);

// Alerting (migration 0015, src/store/alert-config.ts, alert-outbox.ts).

export const alertChannels = sqliteTable(
  "alert_channels",
  {
    id: id(),
    /** null: a global channel (admins define it; every project's groups may use it). */
    projectId: ref("project_id").references(() => projects.id, { onDelete: "cascade" }),
    name: text().notNull(),
    type: text({ enum: ALERT_CHANNEL_TYPES }).notNull(),
    description: text().notNull().default(""),
    settings: json<JsonObject>("settings").notNull().default(emptyObject),
    /** The secret fields as JSON, sealed like datasource passwords; never returned. */
    secrets: text(),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [unique("alert_channels_project_name_unique").on(t.projectId, t.name)],
);

export const alertGroups = sqliteTable(
  "alert_groups",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    name: text().notNull(),
    description: text().notNull().default(""),
    channelIds: json<number[]>("channel_ids").notNull().default([]),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [unique("alert_groups_project_name_unique").on(t.projectId, t.name)],
);

export const alertPolicies = sqliteTable(
  "alert_policies",
  {
    id: id(),
    projectId: ref("project_id").notNull().references(() => projects.id, { onDelete: "cascade" }),
    workflowId: ref("workflow_id").references(() => workflowDefinitions.id, { onDelete: "cascade" }),
    scheduleId: ref("schedule_id").references(() => schedules.id, { onDelete: "cascade" }),
    groupId: ref("group_id").notNull().references(() => alertGroups.id, { onDelete: "restrict" }),
    events: integer().notNull(),
    createdBy: ref("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("alert_policies_workflow_idx").on(t.workflowId),
    index("alert_policies_schedule_idx").on(t.scheduleId),
    index("alert_policies_group_idx").on(t.groupId),
  ],
);

export const alertOutbox = sqliteTable(
  "alert_outbox",
  {
    id: id(),
    createdAt: createdAt(),
    kind: text().notNull(),
    projectId: integer("project_id").notNull(),
    workflowId: integer("workflow_id"),
    scheduleId: integer("schedule_id"),
    workflowInstanceId: integer("workflow_instance_id"),
    taskInstanceId: integer("task_instance_id"),
    policyId: integer("policy_id"),
    channelId: integer("channel_id"),
    state: text(),
    message: text(),
    attempts: integer().notNull().default(0),
    nextAt: time("next_at").notNull().$defaultFn(() => new Date()),
    claimedBy: text("claimed_by"),
    claimedUntil: time("claimed_until"),
    doneAt: time("done_at"),
    lastError: text("last_error"),
  },
  (t) => [index("alert_outbox_due_idx").on(t.doneAt, t.nextAt)],
);

export const alertDeliveries = sqliteTable(
  "alert_deliveries",
  {
    id: id(),
    outboxId: integer("outbox_id").notNull(),
    projectId: integer("project_id").notNull(),
    channelId: integer("channel_id").notNull(),
    channelName: text("channel_name").notNull(),
    channelType: text("channel_type").notNull(),
    kind: text().notNull(),
    workflowInstanceId: integer("workflow_instance_id"),
    attempt: integer().notNull(),
    status: text().notNull(),
    detail: text().notNull().default(""),
    at: time("at").notNull().$defaultFn(() => new Date()),
  },
  (t) => [index("alert_deliveries_project_idx").on(t.projectId, t.id), index("alert_deliveries_outbox_idx").on(t.outboxId)],
);
