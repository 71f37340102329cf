// What the web UI reads beyond the plain resources (docs/architecture.md §9), public like the
// rest: live state as Server-Sent Events (state-stream.ts) for one instance or a project's
// recent instances, and the grid of runs × tasks of one workflow, one server-side page at a time.

import type { Context } from "hono";
import { z } from "zod";
import { NotFoundError, PorpoiseError, UnauthorizedError } from "../../core/errors.ts";
import type { NamedWorkflowInstance, TaskInstance } from "../../store/store.ts";
import { toTaskInstance, toWorkflowInstance } from "../instance-views.ts";
import { defineRoute } from "../route.ts";
import { pathName, positiveInt } from "../schemas.ts";
import { stateEventStream, type StateItem } from "../state-stream.ts";
import type { ApiDeps } from "../deps.ts";
import { projectNotFound } from "../access.ts";
import { authenticateCached } from "../token-cache.ts";
import { bearerToken, hashToken } from "../tokens.ts";
import { TASK_STATES, WORKFLOW_STATES } from "../../core/states.ts";

const STREAM = {
  contentType: "text/event-stream",
  description: "`instance` and `task` events carrying the same objects as the REST reads, each again when it changes; `ready` after the first full set",
};
/** How often an open stream reads the Store (state-stream.ts says why it reads at all). */
const POLL_MS = 500;
/** A project stream follows this many of the newest instances. */
const PROJECT_WINDOW = 100;
export const MAX_GRID_PAGE = 100;

/**
 * Access is checked when a stream opens, like any read, and again every 4 reads (2 s): a token
 * revoked or a member removed meanwhile stops receiving at most 2 s later. One token-cache hit
 * and one membership read per check.
 */
const RECHECK_EVERY = 4;

function recheckAccess(deps: ApiDeps, c: Context, projectId: number, projectName: string): () => Promise<PorpoiseError | null> {
  const hash = hashToken(bearerToken(c.req.header("authorization")));
  return async () => {
    const now = deps.now();
    const found = await authenticateCached(deps.store, hash, now, () => deps.store.tokens.authenticate(hash, now));
    if (!found) return new UnauthorizedError("the token of this stream is no longer valid (expired, revoked, or its user disabled): log in again");
    if (found.user.isAdmin || (await deps.store.members.role(projectId, found.user.id))) return null;
    return projectNotFound(projectName);
  };
}

const streamView = z.object({}).describe("never answered as JSON: the route always streams");
const instanceItem = (wi: NamedWorkflowInstance, project: string): StateItem => ({
  kind: "instance",
  key: `i${wi.id}`,
  version: `${wi.updatedAt.getTime()}:${wi.state}:${wi.runTimes}`,
  data: toWorkflowInstance(wi, project),
});
const taskItem = (t: TaskInstance, workDir: string | null): StateItem => ({
  kind: "task",
  key: `t${t.id}`,
  version: `${t.updatedAt.getTime()}:${t.state}:${t.superseded}`,
  data: toTaskInstance(t, workDir),
});

const gridCell = z.object({
  taskInstanceId: z.number().int(),
  state: z.enum(TASK_STATES),
  attempt: z.number().int(),
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
});
const gridView = z.object({
  tasks: z.array(z.string()).describe("the task names of the workflow's current version, in definition order; runs of older versions may name others"),
  runs: z.array(
    z.object({
      id: z.number().int(),
      state: z.enum(WORKFLOW_STATES),
      workflowVersion: z.number().int(),
      createdAt: z.string(),
      startTime: z.string().nullable(),
      endTime: z.string().nullable(),
      cells: z.record(z.string(), gridCell).describe("task name → its latest attempt in this run (superseded ones left out)"),
    }),
  ),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});
const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** The latest attempt of each task that still counts (a rerun supersedes the earlier ones). */
function cellsOf(tasks: TaskInstance[]): Record<string, z.input<typeof gridCell>> {
  const out: Record<string, z.input<typeof gridCell>> = {};
  for (const t of tasks) {
    const had = out[t.taskName];
    if (t.superseded && had) continue;
    if (had && had.attempt > t.attempt) continue;
    out[t.taskName] = { taskInstanceId: t.id, state: t.state, attempt: t.attempt, startTime: iso(t.startTime), endTime: iso(t.endTime) };
  }
  return out;
}

export const liveRoutes = [
  defineRoute({
    method: "GET",
    path: "/api/v1/workflow-instances/:id/events",
    operationId: "followWorkflowInstance",
    tag: "instances",
    summary: "Live state of one workflow instance and its attempts (Server-Sent Events)",
    description: `Sends the instance and every attempt, then each again whenever it changes (the Store is read every ${POLL_MS} ms while the stream is open). Stays open until the client goes away.`,
    auth: "user",
    owner: { kind: "workflow-instance", role: "viewer" },
    params: z.strictObject({ id: positiveInt("workflow instance id") }),
    stream: STREAM,
    response: streamView,
    handler: ({ params, deps, owned, c }) => {
      const { project: owner } = owned.access;
      const project = owner.name;
      const read = async (): Promise<StateItem[]> => {
        const [wi, tasks] = await Promise.all([deps.store.instances.get(params.id), deps.store.taskInstances.listForInstance(params.id)]);
        if (!wi) return [];
        return [instanceItem(wi, project), ...tasks.map((t) => taskItem(t, deps.workDir))];
      };
      const recheck = recheckAccess(deps, c, owner.id, owner.name);
      return stateEventStream({ read, recheck, recheckEvery: RECHECK_EVERY, signal: c.req.raw.signal, log: deps.log, pollMs: POLL_MS });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/events",
    operationId: "followProject",
    tag: "instances",
    summary: "Live state of a project's newest instances (Server-Sent Events)",
    description: `Sends the newest ${PROJECT_WINDOW} instances (of one workflow with ?workflow=), then each again when it changes or appears.`,
    auth: "user",
    projectRole: "viewer",
    params: z.strictObject({ project: pathName("project name") }),
    query: z.strictObject({ workflow: pathName("only instances of this workflow").optional() }),
    stream: STREAM,
    response: streamView,
    handler: async ({ query, deps, access, c }) => {
      const { project } = access;
      let workflowId: number | undefined;
      if (query.workflow !== undefined) {
        const wf = await deps.store.workflows.get(project.id, query.workflow);
        if (!wf) throw new NotFoundError(`workflow "${query.workflow}" not found in project "${project.name}"`);
        workflowId = wf.id;
      }
      const read = async () => (await deps.store.instances.list({ projectId: project.id, workflowId, limit: PROJECT_WINDOW, offset: 0 })).items.map((wi) => instanceItem(wi, project.name));
      const recheck = recheckAccess(deps, c, project.id, project.name);
      return stateEventStream({ read, recheck, recheckEvery: RECHECK_EVERY, signal: c.req.raw.signal, log: deps.log, pollMs: POLL_MS });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflows/:name/grid",
    operationId: "getWorkflowGrid",
    tag: "instances",
    summary: "Runs × tasks of one workflow, newest run first, one page at a time",
    auth: "user",
    projectRole: "viewer",
    params: z.strictObject({ project: pathName("project name"), name: pathName("workflow name") }),
    query: z.strictObject({
      limit: z.coerce.number().int().min(1).max(MAX_GRID_PAGE).default(50).describe(`runs per page, 1-${MAX_GRID_PAGE}`),
      offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0).describe("runs to skip"),
    }),
    response: gridView,
    handler: async ({ params, query, deps, access }) => {
      const { project } = access;
      const wf = await deps.store.workflows.get(project.id, params.name);
      if (!wf) throw new NotFoundError(`workflow "${params.name}" not found in project "${project.name}"`);
      const [version, page] = await Promise.all([
        deps.store.workflows.getVersion(wf.id, wf.currentVersion),
        deps.store.instances.list({ projectId: project.id, workflowId: wf.id, limit: query.limit, offset: query.offset }),
      ]);
      const attempts = await Promise.all(page.items.map((wi) => deps.store.taskInstances.listForInstance(wi.id)));
      return {
        tasks: version?.definition.tasks.map((t) => t.name) ?? [],
        runs: page.items.map((wi, i) => ({
          id: wi.id,
          state: wi.state,
          workflowVersion: wi.workflowVersion,
          createdAt: wi.createdAt.toISOString(),
          startTime: iso(wi.startTime),
          endTime: iso(wi.endTime),
          cells: cellsOf(attempts[i]!),
        })),
        total: page.total,
        ...query,
      };
    },
  }),
];
