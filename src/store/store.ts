// The Store is the only source of truth (docs/architecture.md §3.1). This file is its contract:
// one interface, two implementations (bun:sqlite and Postgres) built from the same
// repository code, and one test suite run against both (test/integration/store/*).
//
// Every mutating method is one atomic step (one statement or one transaction) and,
// where it changes user-visible objects, writes its audit row in the same transaction.
// Methods throw ConflictError / NotFoundError from src/core/errors.ts with messages a
// user can act on; they never return half-applied results.

import type { WorkflowDefinition } from "../core/workflow-schema.ts";
import type { CommandRepository, WorkflowInstanceRepository } from "./run-store.ts";
import type { TaskInstanceRepository } from "./task-store.ts";
import type { DatasourceRepository } from "./datasource-store.ts";
import type { BackfillRepository } from "./backfill-store.ts";
import type { StoreStats } from "./store-stats.ts";
import type { ScheduleRepository } from "./schedule-store.ts";
import type { LogChunkRepository } from "./log-chunks.ts";
import type { ClusterRepository } from "./cluster-nodes.ts";
import type { RetentionRepository } from "./retention.ts";
import type { WorkerTokenRepository } from "./worker-tokens.ts";
import type { EdgeWorkerRepository } from "./edge-workers.ts";
import type { AlertRepository } from "./alert-store.ts";

export type * from "./run-store.ts";
export type * from "./task-store.ts";
export type * from "./datasource-store.ts";
export type * from "./schedule-store.ts";
export type * from "./cluster-nodes.ts";
export type * from "./retention.ts";
export type * from "./worker-tokens.ts";
export type * from "./edge-workers.ts";
export type * from "./alert-store.ts";
export { DATASOURCE_TYPES } from "./datasource-store.ts";

export type Dialect = "sqlite" | "postgres";
export type ProjectRole = "owner" | "developer" | "viewer";
export type ReleaseState = "ONLINE" | "OFFLINE";
export type TokenKind = "session" | "api";

/** Who performs a write; recorded in the audit log. */
export interface Actor {
  userId: number | null;
  userName: string;
}

export interface User {
  id: number;
  name: string;
  isAdmin: boolean;
  disabled: boolean;
  hasPassword: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  kind: TokenKind;
  /** First characters of the token, safe to show (the token itself is never stored). */
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export interface Project {
  id: number;
  name: string;
  description: string;
  params: Record<string, string>;
  /** The OS user its shell and python tasks run as (an admin sets it); null = the default task user. */
  tenant: string | null;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProjectMember {
  projectId: number;
  userId: number;
  userName: string;
  role: ProjectRole;
  createdAt: Date;
}

export interface Workflow {
  id: number;
  projectId: number;
  name: string;
  description: string;
  currentVersion: number;
  latestVersion: number;
  releaseState: ReleaseState;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WorkflowVersion {
  workflowId: number;
  version: number;
  definition: WorkflowDefinition;
  createdBy: number | null;
  createdAt: Date;
}

export interface AuditEntry {
  id: number;
  at: Date;
  actorId: number | null;
  actorName: string;
  action: string;
  objectType: string;
  objectId: string;
  projectId: number | null;
  versionBefore: number | null;
  versionAfter: number | null;
  details: Record<string, unknown>;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export interface PageQuery {
  limit: number;
  offset: number;
}

export interface UserRepository {
  /**
   * Throws ConflictError when the name is taken. With `token`, the user's first API token is
   * created in the same transaction (admin bootstrap: a crash can never leave a user nobody can
   * log in as).
   */
  create(
    input: { name: string; passwordHash: string | null; isAdmin: boolean; token?: NewToken },
    actor: Actor,
  ): Promise<User>;
  getById(id: number): Promise<User | null>;
  getByName(name: string): Promise<User | null>;
  /** Only for login: the stored argon2id hash, or null when the user has none or does not exist. */
  getPasswordHash(name: string): Promise<{ user: User; passwordHash: string | null } | null>;
  list(page: PageQuery): Promise<Page<User>>;
  setDisabled(id: number, disabled: boolean, actor: Actor): Promise<User>;
  /** Also revokes the user's live session tokens in the same transaction (API tokens stay). */
  setPasswordHash(id: number, passwordHash: string, actor: Actor): Promise<User>;
  /** True when at least one user exists (first-start bootstrap). */
  any(): Promise<boolean>;
}

/** A token to store: only its SHA-256 hash and a displayable prefix, never the token. */
export interface NewToken {
  name: string;
  kind: TokenKind;
  tokenHash: string;
  prefix: string;
  expiresAt: Date | null;
}

export interface TokenRepository {
  create(input: NewToken & { userId: number }, actor: Actor): Promise<ApiToken>;
  /** The live token (not expired at `now`, not revoked) with its enabled user, else null. */
  authenticate(tokenHash: string, now: Date): Promise<{ token: ApiToken; user: User } | null>;
  listForUser(userId: number): Promise<ApiToken[]>;
  /** Revokes one of the user's tokens; NotFoundError when the user has no such token. */
  revoke(userId: number, tokenId: number, actor: Actor): Promise<ApiToken>;
  /** True when a token with this hash exists (live or not). */
  exists(tokenHash: string): Promise<boolean>;
}

export interface ProjectRepository {
  /** Creates the project and makes `ownerId` its owner in one transaction. ConflictError when the name is taken. */
  create(input: { name: string; description: string; ownerId: number }, actor: Actor): Promise<Project>;
  getByName(name: string): Promise<Project | null>;
  getById(id: number): Promise<Project | null>;
  /** The project of workflow instance `workflowInstanceId` (one query: a master reads it together with the instance). */
  ofInstance(workflowInstanceId: number): Promise<Project | null>;
  /** ofInstance() of many instances at once, by instance id (a missing instance has no entry). */
  ofInstances(workflowInstanceIds: readonly number[]): Promise<Map<number, Project>>;
  /** Projects the user is a member of, or all of them for `all: true` (admins). */
  listForUser(userId: number, all: boolean, page: PageQuery): Promise<Page<Project>>;
  update(id: number, patch: { name?: string; description?: string; params?: Record<string, string> }, actor: Actor): Promise<Project>;
  /** Sets (or clears, null) the tenant; audited as project.tenant. Callers check that the actor is an admin. */
  setTenant(id: number, tenant: string | null, actor: Actor): Promise<Project>;
  /** Deletes only when the project holds no workflows and no datasources; ConflictError otherwise (nothing is changed). */
  delete(id: number, actor: Actor): Promise<void>;
}

export interface MemberRepository {
  role(projectId: number, userId: number): Promise<ProjectRole | null>;
  list(projectId: number): Promise<ProjectMember[]>;
  /** ConflictError when already a member. */
  add(projectId: number, userId: number, role: ProjectRole, actor: Actor): Promise<ProjectMember>;
  /** ConflictError when this would leave the project without an owner. */
  setRole(projectId: number, userId: number, role: ProjectRole, actor: Actor): Promise<ProjectMember>;
  /** ConflictError when this would leave the project without an owner. */
  remove(projectId: number, userId: number, actor: Actor): Promise<void>;
}

export interface WorkflowRepository {
  /** Creates the workflow ONLINE with version 1 as current. ConflictError when the name is taken in the project. */
  create(projectId: number, definition: WorkflowDefinition, actor: Actor): Promise<{ workflow: Workflow; version: WorkflowVersion }>;
  /**
   * Stores `definition` as version latest+1 and makes it current. When `expectedVersion` is given and
   * the current version differs, throws ConflictError (optimistic concurrency for editors). A
   * definition equal to the current version's stores nothing: that version, `unchanged: true`.
   */
  addVersion(
    projectId: number,
    name: string,
    definition: WorkflowDefinition,
    actor: Actor,
    expectedVersion?: number,
  ): Promise<{ workflow: Workflow; version: WorkflowVersion; unchanged: boolean }>;
  get(projectId: number, name: string): Promise<Workflow | null>;
  list(projectId: number, query: PageQuery & { nameContains?: string }): Promise<Page<Workflow>>;
  listVersions(workflowId: number, page: PageQuery): Promise<Page<Omit<WorkflowVersion, "definition">>>;
  getVersion(workflowId: number, version: number): Promise<WorkflowVersion | null>;
  /** NotFoundError when the version does not exist. */
  setCurrentVersion(workflowId: number, version: number, actor: Actor): Promise<Workflow>;
  setReleaseState(workflowId: number, state: ReleaseState, actor: Actor): Promise<Workflow>;
  /** Deletes only when OFFLINE and no instance of it is active; ConflictError (naming the reason) otherwise. */
  delete(workflowId: number, actor: Actor): Promise<void>;
}

export interface AuditRepository {
  list(query: PageQuery & { projectId?: number }): Promise<Page<AuditEntry>>;
}

export interface Store {
  readonly dialect: Dialect;
  readonly users: UserRepository;
  readonly tokens: TokenRepository;
  readonly projects: ProjectRepository;
  readonly members: MemberRepository;
  readonly workflows: WorkflowRepository;
  readonly audit: AuditRepository;
  readonly commands: CommandRepository;
  readonly instances: WorkflowInstanceRepository;
  readonly taskInstances: TaskInstanceRepository;
  readonly datasources: DatasourceRepository;
  readonly schedules: ScheduleRepository;
  readonly backfills: BackfillRepository;
  /**
   * Fences the master's writes by the slot lease of `nodeId` (lease-fence.ts, docs/architecture.md
   * §3.3): cluster nodes with the Postgres Coordinator set it before they drive anything. null
   * (the default) turns it off. A SQLite store accepts the call and does not fence (one node).
   */
  fenceWith(nodeId: string | null): void;
  /** Task logs shipped by cluster workers (log-chunks.ts). */
  readonly logChunks: LogChunkRepository;
  /** The node registry and a read of the slot leases (docs/architecture.md §3.3). */
  readonly cluster: ClusterRepository;
  /** Removing finished instances: the background sweep and DELETE /workflow-instances/:id (retention.ts). */
  readonly retention: RetentionRepository;
  /** Worker tokens of edge workers (worker-tokens.ts, migration 0017). */
  readonly workerTokens: WorkerTokenRepository;
  /** Edge workers, their sessions and heartbeats (edge-workers.ts, migration 0017). */
  readonly edgeWorkers: EdgeWorkerRepository;
  /** Alert channels, groups, policies, the outbox and the delivery record (alert-store.ts). */
  readonly alerts: AlertRepository;
  /** Throws when the database does not answer or migrations are missing (used by /readyz). */
  ready(): Promise<void>;
  /** Statements in flight, pool size and errors by kind, for metrics (store-stats.ts). */
  stats(): StoreStats;
  /**
   * Postgres: analyzes the hot tables whose rows outgrew their statistics, so that the generic
   * plans of the hot statements are made again for their size (plan-statistics.ts); the names of
   * the tables analyzed. SQLite: none (its planner keeps no plans across statements).
   */
  refreshStatistics(): Promise<string[]>;
  close(): Promise<void>;
}
