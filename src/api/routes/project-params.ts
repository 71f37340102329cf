// Project params: the lowest user layer of DolphinScheduler's parameter priority (startup >
// task local > upstream OUT > workflow global > project), shared by every workflow of the
// project. Viewers read them; developers replace them (they write the workflows that use
// them; PATCH /projects/:project, owner only, can change them too).

import { z } from "zod";
import { paramsSchema } from "../../core/workflow-fields.ts";
import { defineRoute } from "../route.ts";
import { pathName } from "../schemas.ts";

const MAX_PROJECT_PARAMS = 1000;

const projectPath = z.strictObject({ project: pathName("project name") });
const projectParamsView = z.object({ project: z.string(), params: z.record(z.string(), z.string()) });
const paramsBody = z.strictObject({
  params: paramsSchema.refine((p) => Object.keys(p).length <= MAX_PROJECT_PARAMS, `a project has at most ${MAX_PROJECT_PARAMS} params`),
});

export const projectParamRoutes = [
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/params",
    operationId: "getProjectParams",
    tag: "projects",
    summary: "The project's params (the lowest layer of ${name} resolution)",
    auth: "user",
    projectRole: "viewer",
    params: projectPath,
    response: projectParamsView,
    handler: ({ access }) => ({ project: access.project.name, params: access.project.params }),
  }),
  defineRoute({
    method: "PUT",
    path: "/api/v1/projects/:project/params",
    operationId: "setProjectParams",
    tag: "projects",
    summary: "Replace the project's params; runs that start afterwards see them",
    auth: "user",
    projectRole: "developer",
    params: projectPath,
    body: paramsBody,
    example: { params: { region: "eu", warehouse: "dw_${region}" } },
    response: projectParamsView,
    handler: async ({ body, deps, access, actor }) => {
      const project = await deps.store.projects.update(access.project.id, { params: body.params }, actor);
      return { project: project.name, params: project.params };
    },
  }),
];
