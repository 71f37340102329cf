// The alerting part of the Store contract (issue 11, migration 0015): channels (per project, or
// global), groups of channels, policies on a workflow or a schedule, and the outbox the masters'
// delivery loop drains (src/alerts/delivery-loop.ts) with a record of every delivery attempt.
// Implemented in alert-config.ts and alert-outbox.ts, one code for both dialects.

import type { AlertKind } from "../core/alert-events.ts";
import type { AlertChannelType, JsonObject } from "./model.ts";
import type { Actor, Page, PageQuery } from "./store.ts";

/** A channel as the API shows it: settings, and the NAMES of the secret fields that are set, never their values. */
export interface AlertChannel {
  id: number;
  /** null: a global channel. */
  projectId: number | null;
  name: string;
  type: AlertChannelType;
  description: string;
  settings: JsonObject;
  secretsSet: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** What the delivery loop sends with: the secrets opened. */
export interface AlertChannelForDelivery extends AlertChannel {
  secrets: Record<string, string>;
}

export interface NewAlertChannel {
  name: string;
  type: AlertChannelType;
  description: string;
  settings: JsonObject;
  secrets: Record<string, string>;
}

export interface AlertChannelPatch {
  name?: string;
  description?: string;
  settings?: JsonObject;
  /** Merged into the stored secrets: a value replaces that field, null removes it, absent keeps it. */
  secrets?: Record<string, string | null>;
}

export interface AlertGroup {
  id: number;
  projectId: number;
  name: string;
  description: string;
  channels: { id: number; name: string; type: AlertChannelType; global: boolean }[];
  createdAt: Date;
  updatedAt: Date;
}

/** Channels by name: the project's own (`channels`) and global ones (`globalChannels`). */
export interface AlertGroupInput {
  name: string;
  description: string;
  channels: string[];
  globalChannels: string[];
}

export interface AlertPolicy {
  id: number;
  projectId: number;
  workflowId: number | null;
  scheduleId: number | null;
  groupId: number;
  /** Bit mask of core/alert-events.ts. */
  events: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewAlertPolicy {
  workflowId: number | null;
  scheduleId: number | null;
  groupId: number;
  events: number;
}

export interface AlertOutboxRow {
  id: number;
  createdAt: Date;
  kind: AlertKind;
  projectId: number;
  workflowId: number | null;
  scheduleId: number | null;
  workflowInstanceId: number | null;
  taskInstanceId: number | null;
  policyId: number | null;
  /** TEST rows: the one channel to send to. */
  channelId: number | null;
  state: string | null;
  message: string | null;
  /** Claims so far, this one included. */
  attempts: number;
  nextAt: Date;
  doneAt: Date | null;
  lastError: string | null;
}

export type AlertDeliveryStatus = "sent" | "failed";

export interface AlertDelivery {
  id: number;
  outboxId: number;
  projectId: number;
  channelId: number;
  channelName: string;
  channelType: string;
  kind: string;
  workflowInstanceId: number | null;
  attempt: number;
  status: AlertDeliveryStatus;
  detail: string;
  at: Date;
}

export interface AlertRepository {
  // Channels: projectId null addresses the global ones.
  createChannel(projectId: number | null, input: NewAlertChannel, actor: Actor): Promise<AlertChannel>;
  getChannel(projectId: number | null, name: string): Promise<AlertChannel | null>;
  listChannels(projectId: number | null, page: PageQuery): Promise<Page<AlertChannel>>;
  updateChannel(projectId: number | null, name: string, patch: AlertChannelPatch, actor: Actor): Promise<AlertChannel>;
  /** ConflictError while a group uses it. */
  deleteChannel(projectId: number | null, name: string, actor: Actor): Promise<void>;
  channelsForDelivery(ids: readonly number[]): Promise<AlertChannelForDelivery[]>;

  /** ValidationError naming `channels[i]` / `globalChannels[i]` for a channel that does not exist. */
  createGroup(projectId: number, input: AlertGroupInput, actor: Actor): Promise<AlertGroup>;
  getGroup(projectId: number, name: string): Promise<AlertGroup | null>;
  listGroups(projectId: number, page: PageQuery): Promise<Page<AlertGroup>>;
  updateGroup(projectId: number, name: string, patch: Partial<AlertGroupInput>, actor: Actor): Promise<AlertGroup>;
  /** ConflictError while a policy uses it. */
  deleteGroup(projectId: number, name: string, actor: Actor): Promise<void>;

  createPolicy(projectId: number, input: NewAlertPolicy, actor: Actor): Promise<AlertPolicy>;
  getPolicy(projectId: number, id: number): Promise<AlertPolicy | null>;
  listPolicies(projectId: number, page: PageQuery): Promise<Page<AlertPolicy>>;
  updatePolicy(projectId: number, id: number, patch: { groupId?: number; events?: number }, actor: Actor): Promise<AlertPolicy>;
  deletePolicy(projectId: number, id: number, actor: Actor): Promise<void>;
  policiesById(ids: readonly number[]): Promise<AlertPolicy[]>;
  /** The channel ids of a group (by id), [] when it is gone. */
  channelIdsOfGroup(groupId: number): Promise<number[]>;
  /** A workflow's name by id (messages about a schedule), null when it is gone. */
  workflowName(workflowId: number): Promise<string | null>;

  /** Outbox rows for the policies of the schedule (and its workflow) that want misfires; returns how many. */
  recordMisfire(scheduleId: number, message: string): Promise<number>;
  /**
   * The record of a test-send (the API sends at once and is never retried): a done TEST outbox
   * row and its delivery, one transaction.
   */
  recordTestSend(input: { projectId: number; channelId: number; channelName: string; channelType: string; message: string; ok: boolean; detail: string }): Promise<AlertDelivery>;
  /**
   * Claims up to `limit` due rows for `owner` until `leaseMs` from now (the database clock on
   * Postgres: FOR UPDATE SKIP LOCKED, so masters never claim the same row), counting an attempt
   * on each. A row whose claim expired (its owner died mid-delivery) is due again.
   */
  claimDue(owner: string, limit: number, leaseMs: number): Promise<AlertOutboxRow[]>;
  /**
   * Claims `owner` still holds from before this process (a node that keeps its id across restarts,
   * like `porpoise all`, killed mid-delivery): due again now instead of when their lease ends.
   */
  releaseClaims(owner: string): Promise<number>;
  /** The row is done (delivered, or given up with `error`); false when `owner` no longer holds it. */
  finish(id: number, owner: string, error: string | null): Promise<boolean>;
  /** Tried again at `nextAt`; false when `owner` no longer holds it. */
  retryLater(id: number, owner: string, nextAt: Date, error: string): Promise<boolean>;
  getOutbox(id: number): Promise<AlertOutboxRow | null>;
  recordDelivery(d: Omit<AlertDelivery, "id" | "at">): Promise<AlertDelivery>;
  /** Channels that a row was delivered to already (status sent). */
  deliveredChannels(outboxId: number): Promise<Set<number>>;
  /** Newest first; projectId null: every project's (and the global channels' test-sends, project 0). */
  listDeliveries(projectId: number | null, query: PageQuery & { workflowInstanceId?: number }): Promise<Page<AlertDelivery>>;
  /** Rows not done yet (for the API and tests). */
  pendingCount(projectId?: number): Promise<number>;
}
