// Schedules: cron calendars that fire a workflow (runType SCHEDULER). Each write tells the
// schedulers through the engine client, so a change takes effect at once, not at restart.
// Cron errors name their field (`cron.dayOfWeek`), zone errors `timezone`.

import { z } from "zod";
import { compileCron, getZone, nextFires } from "../../core/cron/index.ts";
import { NotFoundError, ValidationError } from "../../core/errors.ts";
import { parseOrThrow } from "../../core/zod-details.ts";
import type { NewSchedule, Schedule, Store } from "../../store/store.ts";
import type { ProjectAccess } from "../access.ts";
import type { ApiDeps } from "../deps.ts";
import { defineRoute } from "../route.ts";
import { pageOf } from "../views.ts";
import { paging, pathName, positiveInt } from "../schemas.ts";

const PRIORITIES = ["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"] as const;
const MAX_PREVIEW = 100;

const instant = z.iso.datetime({ offset: true }).describe("an ISO-8601 instant, e.g. 2026-01-01T00:00:00Z");
const fields = {
  cron: z.string().min(1).max(200).describe('Quartz ("0 0 3 * * ?") or Unix ("0 3 * * *") cron'),
  timezone: z.string().min(1).max(100).describe("IANA time zone, UTC by default"),
  startTime: instant.nullable(),
  endTime: instant.nullable(),
  failureStrategy: z.enum(["CONTINUE", "END"]),
  priority: z.enum(PRIORITIES),
  workerGroup: z.string().min(1).max(100),
  params: z.record(z.string().max(200), z.string().max(10_000)),
  catchup: z.enum(["none", "latest", "all"]).describe("fires missed while porpoise was down: none, the latest one, or all (up to catchupMax)"),
  catchupMax: z.number().int().min(1).max(10_000).describe("at most this many missed fires are replayed with catchup=all: the newest ones, run oldest first; older ones are logged as dropped"),
};
const createBody = z.strictObject({
  ...fields,
  timezone: fields.timezone.optional(),
  startTime: fields.startTime.optional(),
  endTime: fields.endTime.optional(),
  failureStrategy: fields.failureStrategy.optional(),
  priority: fields.priority.optional(),
  workerGroup: fields.workerGroup.optional(),
  params: fields.params.optional(),
  catchup: fields.catchup.optional(),
  catchupMax: fields.catchupMax.optional(),
  releaseState: z.enum(["ONLINE", "OFFLINE"]).optional().describe("OFFLINE by default"),
});
const updateBody = z.strictObject(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof fields]: z.ZodOptional<(typeof fields)[K]> });
type UpdateBody = z.output<typeof updateBody>;

const date = z.string().meta({ format: "date-time" });
const scheduleView = z.object({
  id: z.number().int(),
  workflowId: z.number().int(),
  cron: z.string(),
  timezone: z.string(),
  startTime: date.nullable(),
  endTime: date.nullable(),
  releaseState: z.enum(["ONLINE", "OFFLINE"]),
  failureStrategy: z.string(),
  priority: z.string(),
  workerGroup: z.string(),
  params: z.record(z.string(), z.string()),
  catchup: z.enum(["none", "latest", "all"]),
  catchupMax: z.number().int(),
  lastFireTime: date.nullable(),
  createdBy: z.number().int().nullable(),
  createdAt: date,
  updatedAt: date,
});
const isoOrNull = (d: Date | null) => (d === null ? null : d.toISOString());
const toView = (s: Schedule): z.input<typeof scheduleView> => {
  const { projectId: _p, ...rest } = s;
  return { ...rest, startTime: isoOrNull(s.startTime), endTime: isoOrNull(s.endTime), lastFireTime: isoOrNull(s.lastFireTime), createdAt: s.createdAt.toISOString(), updatedAt: s.updatedAt.toISOString() };
};
const previewView = z.object({ cron: z.string(), timezone: z.string(), fireTimes: z.array(date) });

const toDate = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : new Date(v));

/** The checks zod cannot make: the cron parses, the zone exists, start is not after end. */
function checkSchedule(s: { cron: string; timezone: string; startTime: Date | null; endTime: Date | null }): void {
  compileCron(s.cron);
  getZone(s.timezone);
  if (s.startTime && s.endTime && s.startTime > s.endTime) {
    throw new ValidationError(`startTime ${s.startTime.toISOString()} is after endTime ${s.endTime.toISOString()}`, [
      { path: "endTime", message: "expected an instant at or after startTime" },
    ]);
  }
}

function toNewSchedule(body: UpdateBody): Partial<NewSchedule> {
  return { ...body, startTime: toDate(body.startTime), endTime: toDate(body.endTime) };
}

async function findSchedule(store: Store, access: ProjectAccess, id: number): Promise<Schedule> {
  const s = await store.schedules.get(id);
  if (!s || s.projectId !== access.project.id) throw new NotFoundError(`schedule ${id} not found in project "${access.project.name}"`);
  return s;
}

const notify = (deps: ApiDeps, id: number) => deps.engine?.scheduleChanged?.(id);

function preview(cron: string, timezone: string, count: number, from: Date, bounds: { startTime?: Date | null; endTime?: Date | null } = {}) {
  const compiled = compileCron(cron);
  getZone(timezone);
  return { cron, timezone, fireTimes: nextFires(compiled, { timezone, from, count, ...bounds }).map((d) => d.toISOString()) };
}

const workflowParams = z.strictObject({ project: pathName("project name"), name: pathName("workflow name") });
const scheduleParams = z.strictObject({ project: pathName("project name"), id: positiveInt("schedule id") });
const countQuery = z.coerce.number().int().min(1).max(MAX_PREVIEW).default(5).describe(`how many fire times, 1-${MAX_PREVIEW}`);
const example = { cron: "0 0 3 * * ?", timezone: "Europe/Berlin", catchup: "latest" };

export const scheduleRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/workflows/:name/schedules",
    operationId: "createSchedule",
    tag: "schedules",
    summary: "Create a schedule for a workflow (OFFLINE unless releaseState says ONLINE)",
    auth: "user",
    projectRole: "developer",
    params: workflowParams,
    body: createBody,
    parseBody: (raw) => {
      const body = parseOrThrow(createBody, raw, "request body");
      const input: NewSchedule = { ...body, timezone: body.timezone ?? "UTC", startTime: toDate(body.startTime), endTime: toDate(body.endTime) };
      checkSchedule({ cron: input.cron, timezone: input.timezone!, startTime: input.startTime ?? null, endTime: input.endTime ?? null });
      return input;
    },
    example,
    response: scheduleView,
    handler: async ({ params, body, deps, access, actor }) => {
      const wf = await deps.store.workflows.get(access.project.id, params.name);
      if (!wf) throw new NotFoundError(`workflow "${params.name}" not found in project "${access.project.name}"`);
      const created = await deps.store.schedules.create(access.project.id, wf.id, body, actor);
      notify(deps, created.id);
      return toView(created);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/workflows/:name/schedules",
    operationId: "listSchedules",
    tag: "schedules",
    summary: "List a workflow's schedules",
    auth: "user",
    projectRole: "viewer",
    params: workflowParams,
    query: z.strictObject(paging),
    response: pageOf(scheduleView),
    handler: async ({ params, query, deps, access }) => {
      const wf = await deps.store.workflows.get(access.project.id, params.name);
      if (!wf) throw new NotFoundError(`workflow "${params.name}" not found in project "${access.project.name}"`);
      const page = await deps.store.schedules.listForWorkflow(wf.id, query);
      return { items: page.items.map(toView), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/schedules/:id",
    operationId: "getSchedule",
    tag: "schedules",
    summary: "Get a schedule",
    auth: "user",
    projectRole: "viewer",
    params: scheduleParams,
    response: scheduleView,
    handler: async ({ params, deps, access }) => toView(await findSchedule(deps.store, access, params.id)),
  }),
  defineRoute({
    method: "PUT",
    path: "/api/v1/projects/:project/schedules/:id",
    operationId: "updateSchedule",
    tag: "schedules",
    summary: "Change a schedule (fields left out keep their value; null clears startTime/endTime)",
    auth: "user",
    projectRole: "developer",
    status: 200,
    params: scheduleParams,
    body: updateBody,
    example: { cron: "0 30 4 * * ?" },
    response: scheduleView,
    handler: async ({ params, body, deps, access, actor }) => {
      const before = await findSchedule(deps.store, access, params.id);
      const patch = toNewSchedule(body);
      checkSchedule({
        cron: patch.cron ?? before.cron,
        timezone: patch.timezone ?? before.timezone,
        startTime: patch.startTime === undefined ? before.startTime : patch.startTime,
        endTime: patch.endTime === undefined ? before.endTime : patch.endTime,
      });
      const updated = await deps.store.schedules.update(before.id, patch, actor);
      notify(deps, updated.id);
      return toView(updated);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/projects/:project/schedules/:id",
    operationId: "deleteSchedule",
    tag: "schedules",
    summary: "Delete a schedule (its instances stay)",
    auth: "user",
    projectRole: "developer",
    status: 204,
    params: scheduleParams,
    handler: async ({ params, deps, access, actor }) => {
      const s = await findSchedule(deps.store, access, params.id);
      await deps.store.schedules.delete(s.id, actor);
      notify(deps, s.id);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/schedules/:id/release",
    operationId: "releaseSchedule",
    tag: "schedules",
    summary: "Bring a schedule ONLINE (it fires from now on) or take it OFFLINE",
    auth: "user",
    projectRole: "developer",
    status: 200,
    params: scheduleParams,
    body: z.strictObject({ state: z.enum(["ONLINE", "OFFLINE"]) }),
    example: { state: "OFFLINE" },
    response: scheduleView,
    handler: async ({ params, body, deps, access, actor }) => {
      const s = await findSchedule(deps.store, access, params.id);
      const updated = await deps.store.schedules.setReleaseState(s.id, body.state, actor, deps.now());
      notify(deps, updated.id);
      return toView(updated);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/schedules/:id/preview",
    operationId: "previewSchedule",
    tag: "schedules",
    summary: "The schedule's next fire times (ISO-8601), within its startTime/endTime",
    auth: "user",
    projectRole: "viewer",
    params: scheduleParams,
    query: z.strictObject({ count: countQuery }),
    response: previewView,
    handler: async ({ params, query, deps, access }) => {
      const s = await findSchedule(deps.store, access, params.id);
      return preview(s.cron, s.timezone, query.count, deps.now(), { startTime: s.startTime, endTime: s.endTime });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/schedules/preview",
    operationId: "previewCron",
    tag: "schedules",
    summary: "Fire times of an unsaved cron expression (ISO-8601)",
    auth: "user",
    status: 200,
    body: z.strictObject({
      cron: fields.cron,
      timezone: fields.timezone.default("UTC"),
      count: z.number().int().min(1).max(MAX_PREVIEW).default(5),
      from: instant.optional().describe("fires strictly after this instant; now by default"),
    }),
    example: { cron: "0 0 3/6 * * ? *", timezone: "Europe/Berlin", count: 4 },
    response: previewView,
    handler: ({ body, deps }) => preview(body.cron, body.timezone, body.count, body.from ? new Date(body.from) : deps.now()),
  }),
];
