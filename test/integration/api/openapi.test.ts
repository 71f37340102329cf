// The OpenAPI document describes exactly the registered routes, from the same
// schemas that validate them; health endpoints answer without a token.

import { describe, expect, test } from "bun:test";
import { routeRegistry } from "../../../src/api/routes/index.ts";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness } from "./harness.ts";

type Json = Record<string, any>;

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe.each(dialects)("OpenAPI and health on %s", (dialect) => {
  test("the document lists every registered route, and only those", async () => {
    await using h = await apiHarness(dialect);
    const reply = await h.call("GET", "/api/v1/openapi.json", { token: null });
    expect(reply.status).toBe(200);
    const doc: Json = reply.json;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.version).toBe("test");
    expect((await h.call("GET", "/openapi.json", { token: null })).json).toEqual(doc);

    let operations = 0;
    for (const path of Object.values(doc.paths) as Json[]) operations += Object.keys(path).length;
    expect(operations).toBe(routeRegistry.length);

    for (const route of routeRegistry) {
      const label = `${route.method} ${route.path}`;
      const op: Json | undefined = doc.paths[route.path.replace(/:([A-Za-z]+)/g, "{$1}")]?.[route.method.toLowerCase()];
      expect({ label, documented: op !== undefined }).toEqual({ label, documented: true });
      expect(op!.summary).toBe(route.summary);
      expect(op!.security).toEqual(route.auth === "public" ? [] : [{ bearer: [] }]);
      const pathParams = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
      const documented = op!.parameters.filter((p: Json) => p.in === "path").map((p: Json) => p.name);
      expect({ label, params: documented }).toEqual({ label, params: pathParams });
      expect({ label, body: op!.requestBody !== undefined }).toEqual({ label, body: route.body !== undefined });
      expect(op!.responses[String(route.status)]).toBeDefined();
      if (route.auth !== "public") expect(op!.responses["401"]).toBeDefined();
      if (route.projectRole) expect(op!["x-project-role"]).toBe(route.projectRole);
    }
    const ids = routeRegistry.map((r) => doc.paths[r.path.replace(/:([A-Za-z]+)/g, "{$1}")][r.method.toLowerCase()].operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("schemas come from the validating zod schemas: strict bodies, typed query parameters, resolvable refs", async () => {
    await using h = await apiHarness(dialect);
    const doc: Json = (await h.call("GET", "/openapi.json", { token: null })).json;
    for (const ref of refs(doc)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split("/").pop()!]).toBeDefined();
    }
    const createProject = doc.paths["/api/v1/projects"].post;
    const body = createProject.requestBody.content["application/json"].schema;
    expect(body).toMatchObject({ type: "object", additionalProperties: false, required: ["name"] });
    expect(Object.keys(body.properties).sort()).toEqual(["description", "name"]);
    const list = doc.paths["/api/v1/projects"].get.parameters;
    expect(list.find((p: Json) => p.name === "limit")).toMatchObject({ in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 500 } });

    const createWorkflow = doc.paths["/api/v1/projects/{project}/workflows"].post.requestBody.content;
    expect(createWorkflow["application/json"].schema).toEqual({ $ref: "#/components/schemas/WorkflowDefinition" });
    expect(createWorkflow["application/yaml"].schema).toEqual({ $ref: "#/components/schemas/WorkflowDefinition" });
    const definition = doc.components.schemas.WorkflowDefinition;
    expect(definition.additionalProperties).toBe(false);
    expect(definition.properties.tasks.type).toBe("array");
    const detail = doc.paths["/api/v1/projects/{project}/workflows/{name}"].get.responses["200"].content["application/json"].schema;
    expect(detail.properties.definition).toEqual({ $ref: "#/components/schemas/WorkflowDefinition" });
    // Token listings document no secret.
    const tokens = doc.paths["/api/v1/tokens"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(tokens.properties.items.items.properties)).not.toContain("token");
  });

  test("every documented example is accepted by the schema that validates the route", () => {
    for (const route of routeRegistry.filter((r) => r.example !== undefined)) {
      if (route.path.includes("/workflows") && route.yaml) {
        expect(() => parseWorkflowDefinition(route.example)).not.toThrow();
      } else {
        const result = route.body!.safeParse(route.example);
        expect({ route: `${route.method} ${route.path}`, ok: result.success }).toEqual({ route: `${route.method} ${route.path}`, ok: true });
      }
    }
    expect(routeRegistry.filter((r) => r.body && r.example === undefined).map((r) => r.path)).toEqual([]);
  });

  test("every registered route is mounted: without a token it answers 401, never 'no route'", async () => {
    await using h = await apiHarness(dialect);
    for (const route of routeRegistry) {
      const path = route.path.replace(/:([A-Za-z]+)/g, "x");
      const reply = await h.call(route.method, path, { token: null });
      const label = `${route.method} ${route.path}`;
      expect({ label, routeMissing: String(reply.json?.error?.message).startsWith("no route") }).toEqual({ label, routeMissing: false });
      if (route.auth !== "public") expect({ label, status: reply.status }).toEqual({ label, status: 401 });
    }
  });

  test("/healthz and /readyz answer without a token", async () => {
    await using h = await apiHarness(dialect);
    expect(await h.call("GET", "/healthz", { token: null })).toMatchObject({ status: 200, json: { status: "ok", version: "test" } });
    expect(await h.call("GET", "/readyz", { token: null })).toMatchObject({ status: 200, json: { status: "ready" } });
  });
});
