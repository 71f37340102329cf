// Backfills (DolphinScheduler's "complement data"): run a workflow for past fire times, serially
// or in parallel, as one object with its progress. The plan is fixed here (src/master/
// backfill-plan.ts); the engine creates the first runs and the master the rest as runs end.
//
// Which schedule's fire times: `scheduleId` when given (it must belong to the workflow); else
// the workflow's only schedule; with several, the first ONLINE one (lowest id), else the first.
// No schedule: one run per UTC day at 00:00.

import { z } from "zod";
import { ConflictError, NotFoundError, ValidationError } from "../../core/errors.ts";
import { backfillRequestSchema, parseBackfillRequest, planBackfill } from "../../core/backfill-plan.ts";
import type { Backfill } from "../../store/backfill-store.ts";
import type { Store } from "../../store/store.ts";
import { requireEngine } from "../engine.ts";
import { defineRoute } from "../route.ts";
import { pathName, positiveInt } from "../schemas.ts";

const projectParams = z.strictObject({ project: pathName("project name") });
const workflowParams = z.strictObject({ project: pathName("project name"), name: pathName("workflow name") });
const idParams = z.strictObject({ project: pathName("project name"), id: positiveInt("backfill id") });

const backfillView = z.object({
  id: z.number(),
  workflowId: z.number(),
  scheduleId: z.number().nullable(),
  state: z
    .enum(["RUNNING", "SUCCESS", "FAILURE", "STOPPED"])
    .describe("RUNNING while runs are left or active (a PAUSEd run holds it); STOPPED when the backfill or one of its runs was stopped (a serial backfill creates nothing after a stopped run); FAILURE when a run failed"),
  runMode: z.enum(["serial", "parallel"]),
  maxParallelism: z.number(),
  onFailure: z.enum(["stop", "continue"]),
  failureStrategy: z.string(),
  priority: z.string(),
  workerGroup: z.string(),
  params: z.record(z.string(), z.string()),
  plan: z.array(z.string()),
  total: z.number(),
  created: z.number(),
  succeeded: z.number().describe("runs that ended SUCCESS"),
  failed: z.number().describe("runs that ended FAILURE (a stopped or discarded run is not a failure; a paused one has not ended)"),
  createdBy: z.number().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const runView = z.object({
  scheduleTime: z.string(),
  instanceId: z.number().nullable(),
  state: z.string().describe("the run's workflow instance state (SERIAL_WAIT when it waits behind another run of a serial workflow), NOT_STARTED, or REMOVED (the run's instance was deleted by retention after the backfill ended)"),
});
const detailView = backfillView.extend({ runs: z.array(runView) });

function view(b: Backfill): z.infer<typeof backfillView> {
  return {
    ...b,
    plan: b.plan.map((d) => d.toISOString()),
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

async function findBackfill(store: Store, projectId: number, id: number): Promise<Backfill> {
  const b = await store.backfills.get(id);
  if (!b || b.projectId !== projectId) throw new NotFoundError(`backfill ${id} not found in this project`);
  return b;
}

async function detail(store: Store, b: Backfill) {
  const runs = await store.backfills.runs(b.id);
  return { ...view(b), runs: runs.map((r) => ({ ...r, scheduleTime: r.scheduleTime.toISOString() })) };
}

export const backfillRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflows/:name/backfill",
    operationId: "createBackfill",
    tag: "backfills",
    summary: "Backfill a workflow over a date range or a list of dates (serial or parallel)",
    description: "400 naming the field for a bad range or date; 409 when the workflow is OFFLINE; 503 when this process runs no engine.",
    auth: "user",
    projectRole: "developer",
    params: workflowParams,
    body: backfillRequestSchema,
    example: { from: "2026-01-01", to: "2026-01-03", runMode: "serial" },
    response: detailView,
    errorStatuses: [503],
    handler: async ({ params, body, deps, access, actor }) => {
      const { project } = access;
      const req = parseBackfillRequest(body);
      const wf = await deps.store.workflows.get(project.id, params.name);
      if (!wf) throw new NotFoundError(`workflow "${params.name}" not found in project "${project.name}"`);
      if (wf.releaseState === "OFFLINE") throw new ConflictError(`workflow "${wf.name}" is OFFLINE and cannot run: bring it ONLINE first`);
      const engine = requireEngine(deps.engine, "backfilling a workflow");
      const schedules = (await deps.store.schedules.listForWorkflow(wf.id, { limit: 1000, offset: 0 })).items.sort((a, b) => a.id - b.id);
      let schedule = schedules.find((s) => s.releaseState === "ONLINE") ?? schedules[0] ?? null;
      if (req.scheduleId !== undefined) {
        schedule = schedules.find((s) => s.id === req.scheduleId) ?? null;
        if (!schedule) throw new ValidationError(`schedule ${req.scheduleId} is not a schedule of workflow "${wf.name}"`, [{ path: "scheduleId", message: `expected one of: ${schedules.map((s) => s.id).join(", ") || "(none)"}` }]);
      }
      const plan = planBackfill(req, schedule);
      const created = await deps.store.backfills.create(
        {
          projectId: project.id,
          workflowId: wf.id,
          scheduleId: schedule?.id ?? null,
          runMode: req.runMode,
          maxParallelism: req.runMode === "serial" ? 1 : req.maxParallelism,
          onFailure: req.onFailure,
          failureStrategy: req.failureStrategy,
          priority: req.priority,
          workerGroup: req.workerGroup,
          params: req.params,
          plan,
        },
        actor,
      );
      // Every EngineClient of createEngineClient has it; the method is optional for other implementations.
      await engine.advanceBackfill?.(created.id);
      return detail(deps.store, (await deps.store.backfills.get(created.id))!);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/backfills",
    operationId: "listBackfills",
    tag: "backfills",
    summary: "List the project's backfills, newest first",
    auth: "user",
    projectRole: "viewer",
    params: projectParams,
    response: z.object({ items: z.array(backfillView) }),
    handler: async ({ deps, access }) => ({ items: (await deps.store.backfills.listForProject(access.project.id)).map(view) }),
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/backfills/:id",
    operationId: "getBackfill",
    tag: "backfills",
    summary: "A backfill with its progress: counts and the state of each planned time",
    auth: "user",
    projectRole: "viewer",
    params: idParams,
    response: detailView,
    handler: async ({ params, deps, access }) => detail(deps.store, await findBackfill(deps.store, access.project.id, params.id)),
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/backfills/:id/stop",
    operationId: "stopBackfill",
    tag: "backfills",
    summary: "Stop a backfill: creates no more runs and stops the running ones",
    status: 200,
    auth: "user",
    projectRole: "developer",
    params: idParams,
    response: detailView,
    errorStatuses: [503],
    handler: async ({ params, deps, access, actor }) => {
      await findBackfill(deps.store, access.project.id, params.id);
      const engine = requireEngine(deps.engine, "stopping a backfill");
      const { backfill, active } = await deps.store.backfills.stop(params.id, actor);
      for (const id of active) {
        // A run that ended meanwhile cannot be stopped any more; that is fine.
        await engine.control(id, "stop", actor).catch(() => undefined);
      }
      return detail(deps.store, backfill);
    },
  }),
];
