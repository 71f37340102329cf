// The OpenAPI document, at /api/v1/openapi.json and /openapi.json.

import { z } from "zod";
import { buildOpenApi } from "../openapi.ts";
import { defineRoute, type Route } from "../route.ts";

// Generating walks every schema; the route list never changes after the app is built.
const cache = new WeakMap<readonly Route[], Record<string, unknown>>();

const openapiRoute = (path: string) =>
  defineRoute({
    method: "GET",
    path,
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

export const openapiRoutes = [openapiRoute("/api/v1/openapi.json"), openapiRoute("/openapi.json")];
