// The OpenAPI document, at /api/v1/openapi.json and /openapi.json, and its rendered reference at /api/docs.

import { z } from "zod";
import { DOCS_PAGE } from "../docs-page.ts";
import { buildOpenApi } from "../openapi.ts";
import { defineRoute, type Route } from "../route.ts";

// Generating walks every schema; the route list never changes after the app is built.
const cache = new WeakMap<readonly Route[], Record<string, unknown>>();

const openapiRoute = (path: string, operationId: string) =>
  defineRoute({
    method: "GET",
    path,
    operationId,
    tag: "meta",
    summary: "This API's OpenAPI 3.1 document",
    auth: "public",
    response: z.record(z.string(), z.unknown()),
    handler: ({ deps }) => {
      let doc = cache.get(deps.routes);
      if (!doc) cache.set(deps.routes, (doc = buildOpenApi(deps.routes, deps.version)));
      return doc;
    },
  });

const docsRoute = defineRoute({
  method: "GET",
  path: "/api/docs",
  operationId: "getApiReference",
  tag: "meta",
  summary: "This API's reference, rendered as one HTML page from the OpenAPI document (no external resources)",
  auth: "public",
  stream: { contentType: "text/html", description: "the reference page" },
  response: z.string(),
  handler: ({ c }) => c.html(DOCS_PAGE),
});

export const openapiRoutes = [openapiRoute("/api/v1/openapi.json", "getOpenApi"), openapiRoute("/openapi.json", "getOpenApiAtRoot"), docsRoute];
