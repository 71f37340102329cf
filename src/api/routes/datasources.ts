// Datasources for sql tasks, per project. The password is write-only: it goes in through
// POST and PUT and never comes back (responses show `hasPassword`), and no error message
// repeats it, so its schema carries its own messages that do not echo the value.

import { z } from "zod";
import { NotFoundError } from "../../core/errors.ts";
import {
  DATASOURCE_OPTIONS,
  datasourceDatabaseSchema,
  datasourceHostSchema,
  datasourceUserSchema,
  optionProblems,
} from "../../core/datasource-fields.ts";
import { datasourceNameSchema, intInRange, paramsSchema } from "../../core/workflow-fields.ts";
import { DATASOURCE_TYPES } from "../../store/store.ts";
import { defineRoute } from "../route.ts";
import { changesSomething, NOTHING_TO_CHANGE, pagingQuery, pathName } from "../schemas.ts";
import { datasourceView, pageOf, toDatasource } from "../views.ts";

const name = datasourceNameSchema;

const MAX_PASSWORD = 1000;
const passwordProblem = () => `expected the password as a string of at most ${MAX_PASSWORD} characters, or null for none`;
const password = z.string({ error: passwordProblem }).max(MAX_PASSWORD, { error: passwordProblem }).nullable();

const fields = {
  name,
  type: z.enum(DATASOURCE_TYPES),
  host: datasourceHostSchema,
  port: intInRange(1, 65535),
  database: datasourceDatabaseSchema,
  user: datasourceUserSchema,
  password: password.describe("write-only: never returned; null for none"),
  params: paramsSchema.describe(
    `connection options, from an allow-list per type: ${Object.entries(DATASOURCE_OPTIONS.postgres).map(([k, r]) => `${k} (${r.expected})`).join(", ")}`,
  ),
  description: z.string().max(2000),
};

/** Options outside the type's allow-list (or with a bad value) are 400 naming `params.<option>`. */
function checkOptions(body: { type?: "postgres"; params?: Record<string, string> }, ctx: z.RefinementCtx): void {
  if (!body.params) return;
  for (const p of optionProblems(body.type ?? "postgres", body.params)) {
    ctx.addIssue({ code: "custom", path: p.path.split("."), message: p.message, input: body.params });
  }
}

const createBody = z.strictObject({
  ...fields,
  type: fields.type.default("postgres"),
  port: fields.port.default(5432),
  password: fields.password.optional(),
  params: fields.params.default({}),
  description: fields.description.default(""),
}).superRefine(checkOptions);

const updateBody = z
  .strictObject({
    name: fields.name.optional(),
    type: fields.type.optional(),
    host: fields.host.optional(),
    port: fields.port.optional(),
    database: fields.database.optional(),
    user: fields.user.optional(),
    password: fields.password.optional().describe("write-only; leave out to keep the stored one, null to remove it"),
    params: fields.params.optional(),
    description: fields.description.optional(),
  })
  .refine(changesSomething, NOTHING_TO_CHANGE)
  .superRefine(checkOptions);

const projectParams = z.strictObject({ project: pathName("project name") });
const datasourceParams = z.strictObject({ project: pathName("project name"), name: pathName("datasource name") });

const example = { name: "warehouse", host: "db.internal", port: 5432, database: "dw", user: "etl", password: "s3cret", params: { sslmode: "require" } };

export const datasourceRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/projects/:project/datasources",
    operationId: "createDatasource",
    tag: "datasources",
    summary: "Create a datasource (for sql tasks); the password is write-only",
    auth: "user",
    projectRole: "developer",
    params: projectParams,
    body: createBody,
    example,
    response: datasourceView,
    handler: async ({ body, deps, access, actor }) => toDatasource(await deps.store.datasources.create(access.project.id, body, actor)),
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/datasources",
    operationId: "listDatasources",
    tag: "datasources",
    summary: "List datasources (passwords are never shown)",
    auth: "user",
    projectRole: "viewer",
    params: projectParams,
    query: pagingQuery,
    response: pageOf(datasourceView),
    handler: async ({ query, deps, access }) => {
      const page = await deps.store.datasources.list(access.project.id, query);
      return { items: page.items.map(toDatasource), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/datasources/:name",
    operationId: "getDatasource",
    tag: "datasources",
    summary: "Get a datasource (the password is never shown)",
    auth: "user",
    projectRole: "viewer",
    params: datasourceParams,
    response: datasourceView,
    handler: async ({ params, deps, access }) => {
      const found = await deps.store.datasources.get(access.project.id, params.name);
      if (!found) throw new NotFoundError(`datasource "${params.name}" does not exist in project "${access.project.name}"`);
      return toDatasource(found);
    },
  }),
  defineRoute({
    method: "PUT",
    path: "/api/v1/projects/:project/datasources/:name",
    operationId: "updateDatasource",
    tag: "datasources",
    summary: "Change a datasource: fields left out are kept (the password too; null removes it)",
    auth: "user",
    projectRole: "developer",
    params: datasourceParams,
    body: updateBody,
    example: { host: "db2.internal", password: "n3w-s3cret" },
    response: datasourceView,
    handler: async ({ params, body, deps, access, actor }) =>
      toDatasource(await deps.store.datasources.update(access.project.id, params.name, body, actor)),
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/projects/:project/datasources/:name",
    operationId: "deleteDatasource",
    tag: "datasources",
    summary: "Delete a datasource",
    auth: "user",
    projectRole: "developer",
    status: 204,
    params: datasourceParams,
    handler: async ({ params, deps, access, actor }) => {
      await deps.store.datasources.delete(access.project.id, params.name, actor);
    },
  }),
];
