// Response shapes. Handlers map domain objects through these functions and the
// route helper parses the result with the matching schema, which also drops any
// field not listed here. Dates leave as ISO-8601 strings.

import { z } from "zod";
import type { ApiToken, AuditEntry, Datasource, Project, ProjectMember, User, Workflow, WorkflowVersion } from "../store/store.ts";

// Produced by Date.toISOString(); documented as date-time without zod's long validation pattern.
const date = z.string().meta({ format: "date-time" });
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d === null ? null : d.toISOString());

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });
}

export const userView = z.object({
  id: z.number().int(),
  name: z.string(),
  isAdmin: z.boolean(),
  disabled: z.boolean(),
  hasPassword: z.boolean(),
  createdAt: date,
  updatedAt: date,
});
export const toUser = (u: User): z.input<typeof userView> => ({ ...u, createdAt: iso(u.createdAt), updatedAt: iso(u.updatedAt) });

export const tokenView = z.object({
  id: z.number().int(),
  name: z.string(),
  kind: z.enum(["session", "api"]),
  prefix: z.string().describe("first characters of the token, for recognising it"),
  createdAt: date,
  expiresAt: date.nullable(),
  revokedAt: date.nullable(),
});
export const toToken = (t: ApiToken): z.input<typeof tokenView> => ({
  ...t,
  createdAt: iso(t.createdAt),
  expiresAt: isoOrNull(t.expiresAt),
  revokedAt: isoOrNull(t.revokedAt),
});
export const createdTokenView = tokenView.extend({
  token: z.string().describe("the token itself; shown only in this response"),
});

export const projectView = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  params: z.record(z.string(), z.string()),
  tenant: z.string().nullable().describe("OS user the project's shell and python tasks run as; null: the default task user"),
  createdBy: z.number().int().nullable(),
  createdAt: date,
  updatedAt: date,
});
export const toProject = (p: Project): z.input<typeof projectView> => ({
  ...p,
  createdAt: iso(p.createdAt),
  updatedAt: iso(p.updatedAt),
});

export const roleSchema = z.enum(["owner", "developer", "viewer"]);

export const memberView = z.object({
  userId: z.number().int(),
  userName: z.string(),
  role: roleSchema,
  createdAt: date,
});
export const toMember = (m: ProjectMember): z.input<typeof memberView> => ({ ...m, createdAt: iso(m.createdAt) });

export const workflowView = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  currentVersion: z.number().int(),
  latestVersion: z.number().int(),
  releaseState: z.enum(["ONLINE", "OFFLINE"]),
  createdBy: z.number().int().nullable(),
  createdAt: date,
  updatedAt: date,
});
export const toWorkflow = (w: Workflow): z.input<typeof workflowView> => ({
  ...w,
  createdAt: iso(w.createdAt),
  updatedAt: iso(w.updatedAt),
});

/**
 * A stored definition is already normalised and validated; it is passed
 * through as is. openapi.ts replaces this schema with a reference to the
 * WorkflowDefinition component, generated from the workflow schema.
 */
export const storedDefinition = z
  .record(z.string(), z.unknown())
  .meta({ "x-component": "WorkflowDefinition", description: "the definition, normalised (durations in seconds)" });

export const versionSummaryView = z.object({
  version: z.number().int(),
  createdBy: z.number().int().nullable(),
  createdAt: date,
});
export const toVersionSummary = (v: Omit<WorkflowVersion, "definition">): z.input<typeof versionSummaryView> => ({
  ...v,
  createdAt: iso(v.createdAt),
});
export const versionView = versionSummaryView.extend({ definition: storedDefinition });
export const toVersion = (v: WorkflowVersion): z.input<typeof versionView> => ({
  ...toVersionSummary(v),
  definition: v.definition as unknown as Record<string, unknown>,
});

export const workflowDetailView = workflowView.extend({ definition: storedDefinition });

/** What a save (create / new version) answers: the stored workflow, and what would make its runs wait. */
export const workflowSavedView = workflowDetailView.extend({
  warnings: z.array(z.string()).describe("things that do not stop the save but will stop runs from progressing, e.g. a worker group no worker serves"),
  unchanged: z.boolean().describe("true when the definition equals the current version's: no new version was stored, this is the current one"),
});

export const auditView = z.object({
  id: z.number().int(),
  at: date,
  actorId: z.number().int().nullable(),
  actorName: z.string(),
  action: z.string(),
  objectType: z.string(),
  objectId: z.string(),
  projectId: z.number().int().nullable(),
  versionBefore: z.number().int().nullable(),
  versionAfter: z.number().int().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export const toAudit = (a: AuditEntry): z.input<typeof auditView> => ({ ...a, at: iso(a.at) });

/** The password is write-only: only whether one is set ever leaves the server. */
export const datasourceView = z.object({
  id: z.number().int(),
  name: z.string(),
  type: z.enum(["postgres"]),
  host: z.string(),
  port: z.number().int(),
  database: z.string(),
  user: z.string(),
  hasPassword: z.boolean(),
  params: z.record(z.string(), z.string()).describe("connection parameters, e.g. sslmode"),
  description: z.string(),
  createdBy: z.number().int().nullable(),
  createdAt: date,
  updatedAt: date,
});
export const toDatasource = (d: Datasource): z.input<typeof datasourceView> => ({
  id: d.id,
  name: d.name,
  type: d.type,
  host: d.host,
  port: d.port,
  database: d.database,
  user: d.user,
  hasPassword: d.hasPassword,
  params: d.params,
  description: d.description,
  createdBy: d.createdBy,
  createdAt: iso(d.createdAt),
  updatedAt: iso(d.updatedAt),
});
