// Running workflows: start a run, list and read instances, and the instance controls.
// Reads come from the store (a running instance's detail from its snapshot in the Cache when
// there is one); runs and controls go through the engine client (503 without one). What can
// be checked against the stored workflow (its version, OFFLINE, the start tasks) is checked
// here first, so the answer is the same with or without an engine.

import { z } from "zod";
import { ConflictError, NotFoundError, ValidationError, type ErrorDetail } from "../../core/errors.ts";
import { WORKFLOW_CONTROLS, WORKFLOW_STATES, type WorkflowState } from "../../core/states.ts";
import { PRIORITIES, paramsSchema, taskNameSchema, workerGroupSchema } from "../../core/workflow-fields.ts";
import { MAX_DETAILS, closestName, describeValue } from "../../core/zod-details.ts";
import type { Store, Workflow, WorkflowVersion } from "../../store/store.ts";
import { getZone } from "../../core/cron/index.ts";
import { topologicalOrder } from "../../core/dag.ts";
import { requireEngine } from "../engine.ts";
import { controlResultView, toTaskInstance, toWorkflowInstance, workflowInstanceDetailView, workflowInstanceView } from "../instance-views.ts";
import { defineRoute } from "../route.ts";
import { MAX_INT32, paging, pathName, positiveInt } from "../schemas.ts";
import { pageOf } from "../views.ts";

const runBody = z.strictObject({
  params: paramsSchema.optional().describe("run parameters; numbers and true/false become strings"),
  startTasks: z.array(taskNameSchema).min(1).max(10_000).optional().describe("run from these tasks only (see dependType)"),
  dependType: z.enum(["TASK_ONLY", "TASK_PRE", "TASK_POST"]).optional().describe("with startTasks: just them, with what they depend on, or with what depends on them"),
  failureStrategy: z.enum(["CONTINUE", "END"]).optional().describe("default END: a failure stops the run"),
  dryRun: z.boolean().optional(),
  priority: z.enum(PRIORITIES).optional(),
  workerGroup: workerGroupSchema.optional(),
  version: z.number().int().min(1).max(MAX_INT32).optional().describe("default: the current version"),
  timezone: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe("IANA zone the run's built-in time params (system.biz.date, $[...]) are computed in; default UTC"),
});

// `2025-05-01`, `2025-05-01T10:00:00Z`, `2025-05-01T12:00:00+02:00`; a time without a zone is UTC.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const instant = (what: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const m = ISO_DATE.exec(text);
      const date = m ? new Date(text.length > 10 && !m[1] ? `${text}Z` : text) : null;
      if (!date || Number.isNaN(date.getTime())) {
        ctx.issues.push({ code: "custom", input: text, message: `expected an ISO-8601 date or date-time such as 2025-05-01T00:00:00Z, got ${describeValue(text)}` });
        return z.NEVER;
      }
      return date;
    })
    .describe(what);

const states = z
  .preprocess(
    (v) => (Array.isArray(v) ? v : [v]).flatMap((s) => String(s).split(",")).map((s) => s.trim()).filter((s) => s !== ""),
    z.array(z.enum(WORKFLOW_STATES)).min(1),
  )
  .describe(`one or more of ${WORKFLOW_STATES.join(", ")} (repeat the parameter or separate with commas)`);

const listQuery = z
  .strictObject({
    ...paging,
    workflow: pathName("only instances of this workflow").optional(),
    state: states.optional(),
    from: instant("created at or after this time").optional(),
    to: instant("created before this time").optional(),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { error: "from must be before to", path: ["from"] });

const projectParams = z.strictObject({ project: pathName("project name") });
const workflowParams = z.strictObject({ project: pathName("project name"), name: pathName("workflow name") });
const idParams = z.strictObject({ id: positiveInt("workflow instance id") });

async function findWorkflow(store: Store, projectId: number, project: string, name: string): Promise<Workflow> {
  const wf = await store.workflows.get(projectId, name);
  if (!wf) throw new NotFoundError(`workflow "${name}" not found in project "${project}"`);
  return wf;
}

// A saved version never changes (the database refuses UPDATEs of workflow_versions) and ids are
// never reused, so the run route reads each version once per store and afterwards only the
// workflow row (release state, current version): one Store round trip fewer per trigger
// (Postgres, load avg ~3: 0.4 ms p50 of POST …/run). A deleted workflow is refused by that read
// first; the create checks the version exists again in its own statement or transaction. The
// detail read of an instance read from the Store takes its version's task count from here too.
const VERSION_CACHE = 256;
const versionCaches = new WeakMap<Store, Map<string, WorkflowVersion>>();

async function versionOf(store: Store, workflowId: number, version: number): Promise<WorkflowVersion | null> {
  let cache = versionCaches.get(store);
  if (!cache) versionCaches.set(store, (cache = new Map()));
  const key = `${workflowId}:${version}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const stored = await store.workflows.getVersion(workflowId, version);
  if (stored) {
    if (cache.size >= VERSION_CACHE) cache.delete(cache.keys().next().value!);
    cache.set(key, stored);
  }
  return stored;
}

// Each task's place in its version's DAG (topological, ties in definition order), per cached version.
const dagRanks = new WeakMap<WorkflowVersion, Map<string, number>>();

/**
 * Attempts in DAG order — a task after the tasks it depends on, its attempts oldest first — not
 * alphabetically (issue 11 papercut): the order the run goes in. Tasks the version does not name
 * (none, unless it is gone) come last, by id.
 */
function inDagOrder<T extends { taskName: string; attempt: number; id: number }>(tasks: readonly T[], version: WorkflowVersion | null): T[] {
  let ranks = version ? dagRanks.get(version) : undefined;
  if (version && !ranks) {
    const defined = version.definition.tasks;
    ranks = new Map(topologicalOrder(defined.map((t) => ({ name: t.name, deps: t.deps ?? [] }))).map((i, rank) => [defined[i]!.name, rank]));
    dagRanks.set(version, ranks);
  }
  const rank = (name: string) => ranks?.get(name) ?? Number.MAX_SAFE_INTEGER;
  return [...tasks].sort((a, b) => rank(a.taskName) - rank(b.taskName) || a.attempt - b.attempt || a.id - b.id);
}

function checkStartTasks(startTasks: string[], known: Set<string>, wf: Workflow, version: number): void {
  const details: ErrorDetail[] = [];
  const unknown: string[] = [];
  startTasks.forEach((task, i) => {
    if (known.has(task)) return;
    const near = closestName(task, known);
    unknown.push(JSON.stringify(task));
    details.push({ path: `startTasks.${i}`, message: `no task named ${JSON.stringify(task)} in this workflow${near ? ` (did you mean "${near}"?)` : ""}` });
  });
  if (details.length === 0) return;
  const more = unknown.length > 10 ? ` and ${unknown.length - 10} more` : "";
  throw new ValidationError(
    `startTasks names tasks that workflow "${wf.name}" version ${version} does not have: ${unknown.slice(0, 10).join(", ")}${more}`,
    details.slice(0, MAX_DETAILS),
  );
}

/** The Idempotency-Key header of a run request: absent, or 1-255 visible ASCII characters. */
function idempotencyKey(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(raw)) {
    const message = "expected 1 to 255 visible ASCII characters (no spaces), such as a UUID";
    throw new ValidationError(`header Idempotency-Key is invalid: ${message}`, [{ path: "Idempotency-Key", message }]);
  }
  return raw;
}

/** `recover-failed` → `recoverFailed`: the operation names of the controls. */
const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export const instanceRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflows/:name/run",
    operationId: "runWorkflow",
    tag: "instances",
    summary: "Run a workflow; answers at once with the new instance's id",
    description:
      "409 when the workflow is OFFLINE; 503 when this process runs no engine. With an Idempotency-Key, sending the same request again (after a timeout or a lost answer) answers with the run it created, and Idempotent-Replayed: true, instead of starting a second run; the same key with another workflow or other params is 409.",
    headers: [{ name: "Idempotency-Key", description: "1 to 255 visible ASCII characters (a UUID, say), unique per run request within the project" }],
    auth: "user",
    projectRole: "developer",
    params: workflowParams,
    body: runBody,
    example: { params: { day: "2025-05-01" }, failureStrategy: "CONTINUE" },
    response: controlResultView,
    errorStatuses: [503],
    handler: async ({ params, body, deps, access, actor, c }) => {
      const { project } = access;
      const requestKey = idempotencyKey(c.req.header("idempotency-key"));
      const wf = await findWorkflow(deps.store, project.id, project.name, params.name);
      const version = body.version ?? wf.currentVersion;
      const stored = await versionOf(deps.store, wf.id, version);
      if (!stored) throw new NotFoundError(`workflow "${wf.name}" has no version ${version} (its versions are 1 to ${wf.latestVersion})`);
      if (wf.releaseState === "OFFLINE") {
        throw new ConflictError(
          `workflow "${wf.name}" is OFFLINE and cannot run: bring it ONLINE first (POST /api/v1/projects/${project.name}/workflows/${wf.name}/release {"state":"ONLINE"})`,
        );
      }
      if (body.timezone !== undefined) getZone(body.timezone, "timezone"); // 400 naming the field for an unknown zone
      const startTasks = body.startTasks ? [...new Set(body.startTasks)] : undefined;
      if (startTasks) checkStartTasks(startTasks, new Set(stored.definition.tasks.map((t) => t.name)), wf, version);
      const engine = requireEngine(deps.engine, "running a workflow");
      // Checked here already: the engine reads none of it again (and hands it to its master).
      const ran = await engine.run(
        { ...body, startTasks, version, projectId: project.id, workflowName: wf.name, checked: { project, workflow: wf, version: stored }, ...(requestKey ? { requestKey } : {}) },
        actor,
      );
      if (ran.replayed) c.header("Idempotent-Replayed", "true");
      return ran;
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflow-instances",
    operationId: "listWorkflowInstances",
    tag: "instances",
    summary: "List workflow instances, newest first (filters: workflow, state, creation time)",
    auth: "user",
    projectRole: "viewer",
    params: projectParams,
    query: listQuery,
    response: pageOf(workflowInstanceView),
    handler: async ({ query, deps, access }) => {
      const { workflow, state, from, to, limit, offset } = query;
      const { project } = access;
      const workflowId = workflow === undefined ? undefined : (await findWorkflow(deps.store, project.id, project.name, workflow)).id;
      const page = await deps.store.instances.list({
        projectId: project.id,
        workflowId,
        states: state as WorkflowState[] | undefined,
        from,
        to,
        limit,
        offset,
      });
      return { items: page.items.map((wi) => toWorkflowInstance(wi, project.name)), total: page.total, limit, offset };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/workflow-instances/:id",
    operationId: "getWorkflowInstance",
    tag: "instances",
    summary: "One workflow instance with every attempt of every task",
    auth: "user",
    // A running instance comes from the snapshot its master keeps in the Cache (cluster api nodes):
    // the owner lookup, its attempts and its version's task count without Postgres; the access
    // check on its project is the same (cache/instance-snapshots.ts).
    owner: { kind: "workflow-instance", role: "viewer", snapshot: true },
    params: idParams,
    response: workflowInstanceDetailView,
    handler: async ({ deps, owned }) => {
      const { instance, snapshot } = owned;
      const [tasks, version] = await Promise.all([
        snapshot ? snapshot.tasks : deps.store.taskInstances.listForInstance(instance.id),
        versionOf(deps.store, instance.workflowId, instance.workflowVersion),
      ]);
      return {
        ...toWorkflowInstance(instance, owned.access.project.name),
        taskCount: snapshot ? snapshot.taskCount : (version?.definition.tasks.length ?? null),
        tasks: inDagOrder(tasks, version).map((t) => toTaskInstance(t, deps.workDir)),
      };
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/workflow-instances/:id",
    operationId: "deleteWorkflowInstance",
    tag: "instances",
    summary: "Delete a finished workflow instance with its attempts and their logs",
    description:
      "Only a finished instance (SUCCESS, FAILURE, STOP, PAUSE): 409 naming the state for any other, and 409 while a backfill it belongs to is RUNNING, a sub_workflow parent or child of it still runs, or a control (e.g. a rerun) on it waits to be carried out. Log chunks in the Store go with it; log files and work dirs at once in porpoise all, else at the next retention sweep of the node that holds them. Audited as workflow-instance.delete.",
    auth: "user",
    owner: { kind: "workflow-instance", role: "owner" },
    status: 204,
    params: idParams,
    handler: async ({ params, deps, actor }) => {
      await deps.store.retention.deleteInstance(params.id, actor);
      // The row is gone (the answer stands); files left behind are the file sweep's.
      await deps.engine?.removeInstanceFiles?.(params.id).catch((err: unknown) => deps.log.warn("could not remove the files of a deleted instance; the next file sweep does", { instanceId: params.id, err }));
    },
  }),
  ...WORKFLOW_CONTROLS.map((control) =>
    defineRoute({
      method: "POST",
      path: `/api/v1/workflow-instances/:id/${control}`,
      operationId: `${camel(control)}WorkflowInstance`,
      tag: "instances",
      summary: `Control a workflow instance: ${control}`,
      description:
        control === "resume" || control === "rerun" || control === "recover-failed"
          ? "409 naming the current state when the control does not fit it, or when the workflow is SERIAL_DISCARD and another of its instances is active; state SERIAL_WAIT when a SERIAL_WAIT / SERIAL_PRIORITY workflow has another active instance (the control applies when this one is let in); 503 when this process runs no engine."
          : "409 naming the current state when the control does not fit it; 503 when this process runs no engine.",
      auth: "user",
      owner: { kind: "workflow-instance", role: "developer" },
      status: 200,
      params: idParams,
      response: controlResultView,
      errorStatuses: [503],
      handler: ({ params, deps, actor }) => requireEngine(deps.engine, `${control} of a workflow instance`).control(params.id, control, actor),
    }),
  ),
];
