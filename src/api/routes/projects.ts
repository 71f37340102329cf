// Projects. Anyone may create one (and becomes its owner); everything else
// goes through membership (access.ts).

import { z } from "zod";
import { ForbiddenError } from "../../core/errors.ts";
import { osUserNameSchema } from "../../core/os-user-name.ts";
import { defineRoute } from "../route.ts";
import { pagingQuery, pathName, projectNameSchema } from "../schemas.ts";
import { pageOf, projectView, toProject } from "../views.ts";

const description = z.string().max(2000);
const params = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]{0,199}$/, "expected a parameter name: letters, digits, '_' or '.', not starting with a digit"),
  z.string().max(100_000),
);
const projectParams = z.strictObject({ project: pathName("project name") });

export const projectRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/projects",
    operationId: "createProject",
    tag: "projects",
    summary: "Create a project; you become its owner",
    auth: "user",
    body: z.strictObject({ name: projectNameSchema, description: description.default("") }),
    example: { name: "analytics", description: "nightly loads" },
    response: projectView,
    handler: async ({ body, deps, principal, actor }) =>
      toProject(await deps.store.projects.create({ ...body, ownerId: principal.user.id }, actor)),
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects",
    operationId: "listProjects",
    tag: "projects",
    summary: "List the projects you are a member of (administrators: all)",
    auth: "user",
    query: pagingQuery,
    response: pageOf(projectView),
    handler: async ({ query, deps, principal }) => {
      const page = await deps.store.projects.listForUser(principal.user.id, principal.user.isAdmin, query);
      return { items: page.items.map(toProject), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project",
    operationId: "getProject",
    tag: "projects",
    summary: "Get a project",
    auth: "user",
    projectRole: "viewer",
    params: projectParams,
    response: projectView,
    handler: ({ access }) => toProject(access.project),
  }),
  defineRoute({
    method: "PATCH",
    path: "/api/v1/projects/:project",
    operationId: "updateProject",
    tag: "projects",
    summary: "Rename a project or change its description or parameters",
    auth: "user",
    projectRole: "owner",
    params: projectParams,
    body: z
      .strictObject({ name: projectNameSchema.optional(), description: description.optional(), params: params.optional() })
      .refine((b) => Object.keys(b).length > 0, "send at least one of name, description, params"),
    example: { description: "nightly loads, EU region", params: { region: "eu" } },
    response: projectView,
    handler: async ({ body, deps, access, actor }) => toProject(await deps.store.projects.update(access.project.id, body, actor)),
  }),
  // The tenant decides which OS user the project's tasks run as, so only an administrator sets
  // it, through this route alone: POST and PATCH bodies are strict and refuse a `tenant` field.
  // A project role first (a non-member gets the same 404 as everywhere), then the admin check.
  defineRoute({
    method: "PUT",
    path: "/api/v1/projects/:project/tenant",
    operationId: "setProjectTenant",
    tag: "projects",
    summary: "Set the OS user the project's shell and python tasks run as (administrators only); null: the default task user",
    auth: "user",
    projectRole: "owner",
    params: projectParams,
    body: z.strictObject({ tenant: osUserNameSchema.nullable() }),
    example: { tenant: "analytics" },
    response: projectView,
    handler: async ({ body, deps, access, actor, principal }) => {
      if (!principal.user.isAdmin) throw new ForbiddenError("only an administrator sets a project's tenant (the OS user its tasks run as)");
      return toProject(await deps.store.projects.setTenant(access.project.id, body.tenant, actor));
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/projects/:project",
    operationId: "deleteProject",
    tag: "projects",
    summary: "Delete a project; only when it holds no workflows (409 otherwise)",
    auth: "user",
    projectRole: "owner",
    status: 204,
    params: projectParams,
    handler: async ({ deps, access, actor }) => {
      await deps.store.projects.delete(access.project.id, actor);
    },
  }),
];
