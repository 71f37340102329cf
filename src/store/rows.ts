// Table rows → the domain objects of store.ts. Secrets (password and token hashes) stop here.

import { StoreError } from "../core/errors.ts";
import type { Tables } from "./dialect.ts";
import type { ApiToken, AuditEntry, Project, User, Workflow, WorkflowVersion } from "./store.ts";

type Row<K extends keyof Tables> = Tables[K]["$inferSelect"];

export function toUser(row: Row<"users">): User {
  return {
    id: row.id,
    name: row.name,
    isAdmin: row.isAdmin,
    disabled: row.disabled,
    hasPassword: row.passwordHash !== null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toToken(row: Row<"apiTokens">): ApiToken {
  return {
    id: row.id,
    userId: row.userId,
    name: row.name,
    kind: row.kind,
    prefix: row.prefix,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
  };
}

export function toProject(row: Row<"projects">): Project {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    params: row.params,
    tenant: row.tenant,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toWorkflow(row: Row<"workflowDefinitions">): Workflow {
  return {
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    description: row.description,
    currentVersion: row.currentVersion,
    latestVersion: row.latestVersion,
    releaseState: row.releaseState,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toVersion(row: Row<"workflowVersions">): WorkflowVersion {
  return {
    workflowId: row.workflowId,
    version: row.version,
    definition: row.definition,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}

export function toAuditEntry(row: Row<"auditLog">): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    actorId: row.actorId,
    actorName: row.actorName,
    action: row.action,
    objectType: row.objectType,
    objectId: row.objectId,
    projectId: row.projectId,
    versionBefore: row.versionBefore,
    versionAfter: row.versionAfter,
    details: row.details,
  };
}

/** The row an INSERT … RETURNING wrote (drizzle types it as possibly absent). */
export function returned<T>(rows: T[], what: string): T {
  const row = rows[0];
  if (row === undefined) throw new StoreError(`writing ${what} returned no row`);
  return row;
}

/** `items` in slices of `size` (the last one shorter). */
export const chunks = <T>(items: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** Ids for an `IN (…)` list, in slices that keep one statement's parameters well below SQLite's and Postgres' limits. */
export const inChunks = (ids: readonly number[]): number[][] => chunks(ids, 500);
