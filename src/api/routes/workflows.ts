// Workflow definitions: versions are immutable; a new body is a new version.
// Bodies are JSON, or YAML with Content-Type application/yaml or text/yaml, and
// are validated by the same parser the CLI uses (src/core/workflow-schema.ts).

import { z } from "zod";
import { NotFoundError, ValidationError } from "../../core/errors.ts";
import { parseWorkflowDefinition, workflowDefinitionSchema, type WorkflowDefinition } from "../../core/workflow-schema.ts";
import type { Store, Workflow } from "../../store/store.ts";
import type { ProjectAccess } from "../access.ts";
import { defineRoute } from "../route.ts";
import { dotSegmentProblem, paging, pagingQuery, pathName, positiveInt } from "../schemas.ts";
import {
  pageOf,
  toVersion,
  toVersionSummary,
  toWorkflow,
  versionSummaryView,
  versionView,
  workflowDetailView,
  workflowSavedView,
  workflowView,
} from "../views.ts";
import { expectedVersion } from "../if-match.ts";
import { checkWorkflowReferences } from "../workflow-references.ts";
import { workerGroupWarnings } from "../worker-group-warnings.ts";

const projectParams = z.strictObject({ project: pathName("project name") });
const workflowParams = z.strictObject({ project: pathName("project name"), name: pathName("workflow name") });

const example = {
  name: "etl-daily",
  description: "nightly load",
  tasks: [
    { name: "extract", type: "shell", script: "echo extract" },
    { name: "load", type: "shell", script: "echo load", deps: ["extract"] },
  ],
};

async function findWorkflow(store: Store, access: ProjectAccess, name: string): Promise<Workflow> {
  const wf = await store.workflows.get(access.project.id, name);
  if (!wf) throw new NotFoundError(`workflow "${name}" not found in project "${access.project.name}"`);
  return wf;
}

async function detail(store: Store, wf: Workflow) {
  const current = await store.workflows.getVersion(wf.id, wf.currentVersion);
  if (!current) throw new Error(`workflow ${wf.id} has no row for its current version ${wf.currentVersion}`);
  return { ...toWorkflow(wf), definition: toVersion(current).definition };
}

function parseDefinition(raw: unknown): WorkflowDefinition {
  const definition = parseWorkflowDefinition(raw);
  const problem = dotSegmentProblem(definition.name);
  if (problem) throw new ValidationError(`workflow definition is invalid: name: ${problem}`, [{ path: "name", message: problem }]);
  return definition;
}

/** The path names the workflow; a body may repeat that name but not contradict it. */
function definitionForPath(raw: unknown, name: string): WorkflowDefinition {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const body = raw as Record<string, unknown>;
    if (body.name === undefined) return parseDefinition({ ...body, name });
    if (body.name !== name) {
      throw new ValidationError(`the body names workflow ${JSON.stringify(body.name)} but the path names "${name}": make them match or leave name out`, [
        { path: "name", message: `expected "${name}" or no name` },
      ]);
    }
  }
  return parseDefinition(raw);
}

export const workflowRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflows",
    operationId: "createWorkflow",
    tag: "workflows",
    summary: "Create a workflow (version 1, ONLINE)",
    auth: "user",
    projectRole: "developer",
    params: projectParams,
    body: workflowDefinitionSchema,
    parseBody: parseDefinition,
    yaml: true,
    example,
    response: workflowSavedView,
    handler: async ({ body, deps, access, actor, principal }) => {
      await checkWorkflowReferences(deps.store, principal.user, access.project, body);
      const { workflow } = await deps.store.workflows.create(access.project.id, body, actor);
      return { ...(await detail(deps.store, workflow)), warnings: workerGroupWarnings(deps.engine, body), unchanged: false };
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflow-checks",
    operationId: "checkWorkflow",
    tag: "workflows",
    summary: "Check a workflow definition without saving it (the web UI's editor asks as you type)",
    description: "The same checks as creating or saving it (schema, DAG, references to other workflows): 200 when it would be accepted, else the 400 a save would get, naming each field.",
    auth: "user",
    projectRole: "developer",
    status: 200,
    params: projectParams,
    body: workflowDefinitionSchema,
    parseBody: parseDefinition,
    yaml: true,
    example,
    response: z.object({ valid: z.literal(true), tasks: z.number().int(), warnings: z.array(z.string()) }),
    handler: async ({ body, deps, access, principal }) => {
      await checkWorkflowReferences(deps.store, principal.user, access.project, body);
      return { valid: true as const, tasks: body.tasks.length, warnings: workerGroupWarnings(deps.engine, body) };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflows",
    operationId: "listWorkflows",
    tag: "workflows",
    summary: "List workflows",
    auth: "user",
    projectRole: "viewer",
    params: projectParams,
    query: z.strictObject({ ...paging, name: z.string().min(1).max(200).optional().describe("only names containing this") }),
    response: pageOf(workflowView),
    handler: async ({ query, deps, access }) => {
      const { name, ...page } = query;
      const found = await deps.store.workflows.list(access.project.id, { ...page, nameContains: name });
      return { items: found.items.map(toWorkflow), total: found.total, ...page };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflows/:name",
    operationId: "getWorkflow",
    tag: "workflows",
    summary: "Get a workflow with its current version's definition (ETag: the current version)",
    auth: "user",
    projectRole: "viewer",
    params: workflowParams,
    response: workflowDetailView,
    handler: async ({ params, deps, access, c }) => {
      const wf = await findWorkflow(deps.store, access, params.name);
      c.header("ETag", `"${wf.currentVersion}"`);
      return detail(deps.store, wf);
    },
  }),
  defineRoute({
    method: "PUT",
    path: "/api/v1/projects/:project/workflows/:name",
    operationId: "updateWorkflow",
    tag: "workflows",
    summary: "Store a new version and make it current (an identical definition stores nothing)",
    description:
      "Send If-Match: \"<version>\" or ?expectedVersion=<version> to get 409 instead of overwriting a change made in between. A definition equal to the current version's creates no version: the answer is the current one with unchanged: true.",
    auth: "user",
    projectRole: "developer",
    params: workflowParams,
    query: z.strictObject({ expectedVersion: positiveInt("the current version you edited").optional() }),
    headers: [{ name: "If-Match", description: "the current version you edited, as returned in ETag" }],
    body: workflowDefinitionSchema,
    parseBody: (raw, params) => definitionForPath(raw, params.name),
    yaml: true,
    example,
    response: workflowSavedView,
    handler: async ({ params, query, body, deps, access, actor, principal, c }) => {
      const expected = expectedVersion(c.req.header("if-match"), query.expectedVersion);
      await checkWorkflowReferences(deps.store, principal.user, access.project, body);
      const { workflow, unchanged } = await deps.store.workflows.addVersion(access.project.id, params.name, body, actor, expected);
      return { ...(await detail(deps.store, workflow)), warnings: workerGroupWarnings(deps.engine, body), unchanged };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflows/:name/versions",
    operationId: "listWorkflowVersions",
    tag: "workflows",
    summary: "List a workflow's versions",
    auth: "user",
    projectRole: "viewer",
    params: workflowParams,
    query: pagingQuery,
    response: pageOf(versionSummaryView),
    handler: async ({ params, query, deps, access }) => {
      const wf = await findWorkflow(deps.store, access, params.name);
      const page = await deps.store.workflows.listVersions(wf.id, query);
      return { items: page.items.map(toVersionSummary), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflows/:name/versions/:v",
    operationId: "getWorkflowVersion",
    tag: "workflows",
    summary: "Get one version of a workflow",
    auth: "user",
    projectRole: "viewer",
    params: workflowParams.extend({ v: positiveInt("version number") }),
    response: versionView,
    handler: async ({ params, deps, access }) => {
      const wf = await findWorkflow(deps.store, access, params.name);
      const version = await deps.store.workflows.getVersion(wf.id, params.v);
      if (!version) throw new NotFoundError(`workflow "${wf.name}" has no version ${params.v} (latest is ${wf.latestVersion})`);
      return toVersion(version);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflows/:name/current-version",
    operationId: "setCurrentWorkflowVersion",
    tag: "workflows",
    summary: "Switch the current version (roll back or forward)",
    auth: "user",
    projectRole: "developer",
    status: 200,
    params: workflowParams,
    body: z.strictObject({ version: z.number().int().min(1).max(2_147_483_647) }),
    example: { version: 1 },
    response: workflowView,
    handler: async ({ params, body, deps, access, actor, principal }) => {
      const wf = await findWorkflow(deps.store, access, params.name);
      // Making an old version current is saving it again: its references are checked as of now.
      const version = await deps.store.workflows.getVersion(wf.id, body.version);
      if (version) await checkWorkflowReferences(deps.store, principal.user, access.project, version.definition);
      return toWorkflow(await deps.store.workflows.setCurrentVersion(wf.id, body.version, actor));
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflows/:name/release",
    operationId: "releaseWorkflow",
    tag: "workflows",
    summary: "Bring a workflow ONLINE or take it OFFLINE",
    auth: "user",
    projectRole: "developer",
    status: 200,
    params: workflowParams,
    body: z.strictObject({ state: z.enum(["ONLINE", "OFFLINE"]) }),
    example: { state: "OFFLINE" },
    response: workflowView,
    handler: async ({ params, body, deps, access, actor }) => {
      const wf = await findWorkflow(deps.store, access, params.name);
      const updated = await deps.store.workflows.setReleaseState(wf.id, body.state, actor);
      if (body.state === "OFFLINE") {
        // Its schedules went OFFLINE in the same transaction: the schedulers stop firing them now.
        for (const s of (await deps.store.schedules.listForWorkflow(wf.id, { limit: 1000, offset: 0 })).items) deps.engine?.scheduleChanged?.(s.id);
      }
      return toWorkflow(updated);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/projects/:project/workflows/:name",
    operationId: "deleteWorkflow",
    tag: "workflows",
    summary: "Delete a workflow and its versions; only when OFFLINE with nothing running (409 otherwise)",
    auth: "user",
    projectRole: "developer",
    status: 204,
    params: workflowParams,
    handler: async ({ params, deps, access, actor }) => {
      const wf = await findWorkflow(deps.store, access, params.name);
      await deps.store.workflows.delete(wf.id, actor);
    },
  }),
];
