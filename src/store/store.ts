// The Store is the only source of truth (DESIGN.md §3.1). This file is its contract:
// one interface, two implementations (bun:sqlite and Postgres) built from the same
// repository code, and one test suite run against both (test/integration/store/*).
//
// Every mutating method is one atomic step (one statement or one transaction) and,
// where it changes user-visible objects, writes its audit row in the same transaction.
// Methods throw ConflictError / NotFoundError from src/core/errors.ts with messages a
// user can act on; they never return half-applied results.

import type { TaskState, WorkflowState } from "../core/states.ts";
import type { WorkflowDefinition } from "../core/workflow-schema.ts";

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
  /** Projects the user is a member of, or all of them for `all: true` (admins). */
  listForUser(userId: number, all: boolean, page: PageQuery): Promise<Page<Project>>;
  update(id: number, patch: { name?: string; description?: string; params?: Record<string, string> }, actor: Actor): Promise<Project>;
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
   * the current version differs, throws ConflictError (optimistic concurrency for editors).
   */
  addVersion(
    projectId: number,
    name: string,
    definition: WorkflowDefinition,
    actor: Actor,
    expectedVersion?: number,
  ): Promise<{ workflow: Workflow; version: WorkflowVersion }>;
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

// ── Running workflows (issue 3) ─────────────────────────────────────────────────────────
// State names are DolphinScheduler's (DESIGN.md §4); which transitions are allowed is the
// engine's business (src/core/states.ts). The store only applies a change when the row is
// still in one of the states the caller expects and the caller's fencing token still holds.

/** The engine's state names (src/core/states.ts holds them and the transition table). */
export type WorkflowInstanceState = WorkflowState;
export type TaskInstanceState = TaskState;

export type CommandType =
  | "START"
  | "STOP"
  | "PAUSE"
  | "RESUME"
  | "RERUN"
  | "RECOVER_FAILED"
  | "FORCE_SUCCESS"
  | "KILL_TASK"
  | "SCHEDULE";
export type CommandState = "PENDING" | "CONSUMED";
export type FailureStrategy = "CONTINUE" | "END";
export type DependType = "TASK_ONLY" | "TASK_PRE" | "TASK_POST";
export type Priority = "HIGHEST" | "HIGH" | "MEDIUM" | "LOW" | "LOWEST";

export interface Command {
  id: number;
  type: CommandType;
  projectId: number;
  workflowId: number | null;
  workflowInstanceId: number | null;
  payload: Record<string, unknown>;
  state: CommandState;
  createdBy: number | null;
  createdAt: Date;
  consumedAt: Date | null;
  consumedBy: string | null;
}

export interface NewCommand {
  type: CommandType;
  projectId: number;
  workflowId?: number | null;
  workflowInstanceId?: number | null;
  payload?: Record<string, unknown>;
}

export interface CommandRepository {
  /** Stores a PENDING command and its audit row in one transaction. NotFoundError for a missing project/workflow/instance. */
  enqueue(input: NewCommand, actor: Actor): Promise<Command>;
  /**
   * Consumes up to `limit` PENDING commands, oldest first, for `consumer` (a node id). One guarded
   * UPDATE … WHERE state = 'PENDING': a command is handed to exactly one claimer, even when several
   * race; a claimer that loses a race gets fewer (possibly none) and simply asks again.
   */
  claimNext(consumer: string, limit: number, filter?: { types?: CommandType[] }): Promise<Command[]>;
  /** Consumes one PENDING command; null when it does not exist or was consumed already. */
  claim(id: number, consumer: string): Promise<Command | null>;
  get(id: number): Promise<Command | null>;
  /** PENDING commands, oldest first (restart recovery, debugging). */
  listPending(limit: number): Promise<Command[]>;
}

export interface WorkflowInstance {
  id: number;
  projectId: number;
  workflowId: number;
  workflowVersion: number;
  state: WorkflowInstanceState;
  runType: string;
  slot: number;
  epoch: number;
  priority: string;
  workerGroup: string;
  failureStrategy: string;
  params: Record<string, string>;
  startTasks: string[] | null;
  dependType: string | null;
  runTimes: number;
  scheduleId: number | null;
  scheduleTime: Date | null;
  commandId: number | null;
  parentTaskInstanceId: number | null;
  dryRun: boolean;
  host: string | null;
  startTime: Date | null;
  endTime: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** An instance as read for display (get, list): with its workflow's name, joined in the same query. */
export interface NamedWorkflowInstance extends WorkflowInstance {
  workflowName: string;
}

export interface NewWorkflowInstance {
  workflowId: number;
  /** Defaults to the workflow's current version; NotFoundError when it does not exist. */
  version?: number;
  /** The slot (decided by the caller), or a function of the new id (slot = hash(id)). */
  slot: number | ((id: number) => number);
  epoch?: number;
  /** e.g. START_PROCESS, SCHEDULER, SUB_PROCESS, COMPLEMENT_DATA. */
  runType: string;
  state?: WorkflowInstanceState;
  priority?: Priority;
  workerGroup?: string;
  failureStrategy?: FailureStrategy;
  params?: Record<string, string>;
  startTasks?: string[] | null;
  dependType?: DependType | null;
  dryRun?: boolean;
  scheduleId?: number | null;
  scheduleTime?: Date | null;
  parentTaskInstanceId?: number | null;
  host?: string | null;
  /** A PENDING command consumed in the same transaction (ConflictError when already consumed). */
  consumeCommand?: { id: number; consumer: string };
}

/** Fields a transition may set besides state and epoch. */
export interface WorkflowInstanceChanges {
  host?: string | null;
  startTime?: Date | null;
  endTime?: Date | null;
  /** Rerun / recover: bumps the run counter. */
  runTimes?: number;
  params?: Record<string, string>;
  startTasks?: string[] | null;
  dependType?: string | null;
  failureStrategy?: FailureStrategy;
}

export interface InstanceTransition {
  from: readonly WorkflowInstanceState[];
  to: WorkflowInstanceState;
  /** The writer's slot epoch: applied only when the row's epoch is not newer; stored on the row. */
  epoch: number;
  set?: WorkflowInstanceChanges;
}

export interface InstanceQuery extends PageQuery {
  projectId: number;
  workflowId?: number;
  states?: readonly WorkflowInstanceState[];
  /** created_at ≥ from */
  from?: Date;
  /** created_at < to */
  to?: Date;
}

export interface WorkflowInstanceRepository {
  /**
   * One transaction: locks the workflow row (so it cannot be taken OFFLINE or deleted meanwhile),
   * refuses an OFFLINE workflow with ConflictError, inserts the instance, optionally consumes its
   * command. NotFoundError for a missing workflow or version.
   */
  create(input: NewWorkflowInstance): Promise<WorkflowInstance>;
  /** Fenced: the changed row, or null when the state was not one of `from` or the epoch is stale. Never throws for that. */
  transition(id: number, change: InstanceTransition): Promise<WorkflowInstance | null>;
  get(id: number): Promise<NamedWorkflowInstance | null>;
  /** Newest first. */
  list(query: InstanceQuery): Promise<Page<NamedWorkflowInstance>>;
  /** Non-terminal instances (restart recovery), of the given slots or all, oldest first. */
  listActive(query?: { slots?: readonly number[] }): Promise<WorkflowInstance[]>;
}

export interface TaskInstance {
  id: number;
  workflowInstanceId: number;
  taskName: string;
  taskType: string;
  state: TaskInstanceState;
  attempt: number;
  dispatchToken: string | null;
  slot: number;
  epoch: number;
  workerGroup: string;
  priority: string;
  host: string | null;
  submitTime: Date | null;
  startTime: Date | null;
  endTime: Date | null;
  notBefore: Date | null;
  params: Record<string, string>;
  output: Record<string, string> | null;
  exitCode: number | null;
  logPath: string | null;
  message: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A new attempt. Fenced by its workflow instance's epoch (stale when a newer master wrote it). */
export interface TaskAttemptInsert {
  op: "insert";
  workflowInstanceId: number;
  taskName: string;
  taskType: string;
  attempt: number;
  state: TaskInstanceState;
  dispatchToken: string | null;
  slot: number;
  epoch: number;
  workerGroup?: string;
  priority?: Priority;
  params?: Record<string, string>;
  submitTime?: Date | null;
  notBefore?: Date | null;
}

export interface TaskAttemptChanges {
  host?: string | null;
  startTime?: Date | null;
  endTime?: Date | null;
  output?: Record<string, string> | null;
  exitCode?: number | null;
  logPath?: string | null;
  message?: string | null;
  notBefore?: Date | null;
  /** A fresh token (e.g. re-dispatch of a DELAY_EXECUTION attempt). */
  dispatchToken?: string | null;
}

/** A fenced change of one attempt: applied only when id, attempt, token and state all match. */
export interface TaskAttemptUpdate {
  op: "update";
  id: number;
  attempt: number;
  /** The dispatch token the change is for; null matches an attempt that has none yet. */
  token: string | null;
  from: readonly TaskInstanceState[];
  to: TaskInstanceState;
  set?: TaskAttemptChanges;
  /** With `epoch`, also fenced by (and bumping) its workflow instance's epoch, like an insert. */
  fence?: { workflowInstanceId: number; epoch: number };
}

/** A workflow-instance transition inside a batch (e.g. the last task's SUCCESS and the instance's, together). */
export interface InstanceTransitionOp extends InstanceTransition {
  op: "instance";
  id: number;
}

export type TaskBatchOp = TaskAttemptInsert | TaskAttemptUpdate | InstanceTransitionOp;

export type TaskBatchOutcome =
  | { outcome: "applied"; id: number }
  | { outcome: "stale" }
  | { outcome: "duplicate" };

export interface TaskInstanceRepository {
  /**
   * Group commit: ONE transaction applies every op and returns one outcome per op, in order.
   * "stale" (fence, token, attempt or state did not match) and "duplicate" (the attempt exists)
   * are outcomes, not errors; any other failure (e.g. an unknown workflow instance) rolls the
   * whole batch back and throws. Ops apply in this order: instance fences, inserts, updates,
   * instance transitions — ops of one batch must not depend on each other's effects.
   */
  applyBatch(ops: readonly TaskBatchOp[]): Promise<TaskBatchOutcome[]>;
  /** A worker's completion as a one-op batch: "applied" or "stale" (stale or forged token, wrong attempt, already ended). */
  complete(input: {
    id: number;
    attempt: number;
    token: string;
    state: TaskInstanceState;
    from?: readonly TaskInstanceState[];
    output?: Record<string, string> | null;
    exitCode?: number | null;
    endTime: Date;
    message?: string | null;
  }): Promise<"applied" | "stale">;
  get(id: number): Promise<TaskInstance | null>;
  /** Every attempt of every task of the instance, by task name then attempt. */
  listForInstance(workflowInstanceId: number): Promise<TaskInstance[]>;
  /**
   * Restart recovery: every attempt in DISPATCH or RUNNING_EXECUTION (on `host`, or everywhere with
   * `all: true`; optionally only in `slots`) becomes NEED_FAULT_TOLERANCE in one statement; returns them.
   */
  markInterrupted(query: { host: string; slots?: readonly number[] } | { all: true; slots?: readonly number[] }): Promise<TaskInstance[]>;
}

export const DATASOURCE_TYPES = ["postgres"] as const;
export type DatasourceType = (typeof DATASOURCE_TYPES)[number];

/** A datasource as list/get show it: never the password. */
export interface Datasource {
  id: number;
  projectId: number;
  name: string;
  type: DatasourceType;
  host: string;
  port: number;
  database: string;
  user: string;
  hasPassword: boolean;
  params: Record<string, string>;
  description: string;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a worker needs to connect (includes the password). */
export interface DatasourceConnection {
  type: DatasourceType;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | null;
  params: Record<string, string>;
}

export interface NewDatasource {
  name: string;
  type: DatasourceType;
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string | null;
  params?: Record<string, string>;
  description?: string;
}

export interface DatasourceRepository {
  /** ConflictError when the name is taken in the project; NotFoundError for a missing project. */
  create(projectId: number, input: NewDatasource, actor: Actor): Promise<Datasource>;
  get(projectId: number, name: string): Promise<Datasource | null>;
  list(projectId: number, page: PageQuery): Promise<Page<Datasource>>;
  /** `password: undefined` keeps it, `null` removes it. NotFoundError when missing. */
  update(projectId: number, name: string, patch: Partial<NewDatasource>, actor: Actor): Promise<Datasource>;
  delete(projectId: number, name: string, actor: Actor): Promise<void>;
  /** For the worker running a sql task: the full connection, password decrypted. Null when missing. */
  getConnection(projectId: number, name: string): Promise<DatasourceConnection | null>;
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
  /** Throws when the database does not answer or migrations are missing (used by /readyz). */
  ready(): Promise<void>;
  close(): Promise<void>;
}
