// The OpenAPI 3.1 document, generated from the route registry: the same zod
// schemas that validate requests and shape responses describe them here.

import { z } from "zod";
import { workflowDefinitionSchema } from "../core/workflow-schema.ts";
import type { Route } from "./route.ts";

type Json = Record<string, unknown>;

const WORKFLOW_REF = "#/components/schemas/WorkflowDefinition";
const ERROR_REF = "#/components/schemas/Error";

const errorSchema = z.object({
  error: z.object({
    code: z.string().describe("stable machine-readable code, e.g. VALIDATION_FAILED"),
    message: z.string().describe("what was wrong and what to do"),
    details: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

const errorText: Record<number, string> = {
  400: "invalid input (VALIDATION_FAILED): details name each field",
  401: "missing, malformed, expired or revoked token, or disabled user",
  403: "authenticated but lacking the role named in the message",
  404: "not found, or in a project you are not a member of",
  409: "conflicts with the current state (name taken, not empty, online, version changed…)",
  413: "body larger than the configured limit",
  415: "body sent with a content type this route does not read",
  429: "too many attempts; Retry-After says how many seconds to wait",
  500: "internal error; the message names a request id, the server log has the cause",
  503: "not ready, or the store is unreachable (Retry-After); the message says why",
};

function jsonSchema(schema: z.ZodType, io: "input" | "output", refWorkflow = true): Json {
  const out = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      const js = jsonSchema as Json;
      if (refWorkflow && (zodSchema === workflowDefinitionSchema || js["x-component"] === "WorkflowDefinition")) {
        for (const key of Object.keys(js)) delete js[key];
        js.$ref = WORKFLOW_REF;
      }
    },
  }) as Json;
  delete out.$schema;
  return out;
}

function parameters(route: Route): Json[] {
  const list: Json[] = [];
  for (const [where, schema] of [["path", route.params], ["query", route.query]] as const) {
    if (!schema) continue;
    const js = jsonSchema(schema, "input");
    const required = new Set((js.required as string[] | undefined) ?? []);
    for (const [name, s] of Object.entries((js.properties as Record<string, Json> | undefined) ?? {})) {
      list.push({ name, in: where, required: where === "path" || required.has(name), description: s.description, schema: s });
    }
  }
  for (const h of route.headers) list.push({ name: h.name, in: "header", required: false, description: h.description, schema: { type: "string" } });
  return list;
}

function errorStatuses(route: Route): number[] {
  const s = new Set<number>(route.errorStatuses);
  if (route.params || route.query || route.body) s.add(400);
  if (route.auth !== "public") s.add(401);
  if (route.auth === "admin" || route.projectRole || route.owner) s.add(403);
  if (route.projectRole || route.owner || route.params) s.add(404);
  if (route.auth !== "public" && route.method !== "GET") s.add(409);
  if (route.body) [413, 415].forEach((x) => s.add(x));
  s.add(500);
  return [...s].sort();
}

function operation(route: Route): Json {
  const role = route.projectRole
    ? `Needs the ${route.projectRole} role in the project (administrators act as owners).`
    : route.owner
      ? `Needs the ${route.owner.role} role in the project the ${route.owner.kind} belongs to (administrators act as owners).`
      : "";
  const admin = route.auth === "admin" ? "Administrators only." : "";
  const description = [route.description, role, admin].filter(Boolean).join(" ");
  const content: Json = route.response ? { "application/json": { schema: jsonSchema(route.response, "output") } } : {};
  if (route.stream) content[route.stream.contentType] = { schema: { type: "string", description: route.stream.description } };
  const responses: Json = {
    [route.status]: route.response ? { description: "success", content } : { description: "success, no content" },
  };
  for (const status of errorStatuses(route)) {
    responses[status] = { description: errorText[status] ?? "error", content: { "application/json": { schema: { $ref: ERROR_REF } } } };
  }
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    ...(description ? { description } : {}),
    tags: [route.tag],
    security: route.auth === "public" ? [] : [{ bearer: [] }],
    parameters: parameters(route),
    responses,
  };
  const projectRole = route.projectRole ?? route.owner?.role;
  if (projectRole) op["x-project-role"] = projectRole;
  if (route.body) {
    const schema = jsonSchema(route.body, "input");
    const example = route.example === undefined ? {} : { example: route.example };
    const content: Json = { "application/json": { schema, ...example } };
    if (route.yaml) content["application/yaml"] = { schema };
    op.requestBody = { required: true, content };
  }
  return op;
}

export function buildOpenApi(routes: readonly Route[], version: string): Json {
  const paths: Record<string, Json> = {};
  const ids = new Set<string>();
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const op = operation(route);
    // Names an SDK generator turns into methods (route.ts checks their form): one per operation.
    if (ids.has(route.operationId)) throw new Error(`operationId ${route.operationId} is declared twice (${route.method} ${route.path})`);
    ids.add(route.operationId);
    (paths[path] ??= {})[route.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "porpoise API",
      version,
      description: "Distributed DAG workflow scheduler. Send `Authorization: Bearer <token>`; get a token from POST /api/v1/login. A rendered reference of this document is served at /api/docs.",
      license: { name: "Apache License 2.0", identifier: "Apache-2.0" },
    },
    // Relative: the server that serves this document, wherever it is deployed (behind a proxy too).
    servers: [{ url: "/", description: "the porpoise server that serves this document" }],
    paths,
    components: {
      schemas: { WorkflowDefinition: jsonSchema(workflowDefinitionSchema, "input", false), Error: jsonSchema(errorSchema, "output") },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "a session token from /login or an API token" } },
    },
  };
}
