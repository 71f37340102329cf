// The HTTP API: hono, JSON, routes under /api/v1 plus /healthz and /readyz.
// Routes are declared in routes/*.ts (see route.ts); this file applies the
// defaults, mounts them, and installs the one error handler.

import { defaultAlertEgress } from "../alerts/egress-check.ts";
import { type Context, Hono } from "hono";
import { DEFAULT_MAX_BODY_BYTES, checkDeclaredLength } from "./body.ts";
import { DEFAULT_SESSION_TTL_MS, type ApiDeps, type AppOptions } from "./deps.ts";
import { errorBody, errorResponse } from "./errors.ts";
import { LoginThrottle } from "./login-throttle.ts";
import { methodTable } from "./method-not-allowed.ts";
import { mountRoute } from "./route.ts";
import { mountUi } from "./ui-assets.ts";
import { mountEdgeGateway } from "./edge/routes.ts";
import { observeRequests } from "./observe-requests.ts";
import { routeRegistry } from "./routes/index.ts";

export type { AppOptions } from "./deps.ts";

export function createApp(opts: AppOptions): Hono {
  const deps: ApiDeps = {
    store: opts.store,
    log: opts.log,
    now: opts.now ?? (() => new Date()),
    sessionTtlMs: opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    version: opts.version ?? "unknown",
    engine: opts.engine ?? null,
    trustedProxies: opts.trustedProxies ?? [],
    workDir: opts.workDir ?? null,
    loginThrottle: new LoginThrottle(opts.loginPolicy),
    routes: routeRegistry,
    dataDirCheck: opts.dataDirCheck ?? null,
    instanceSnapshots: opts.instanceSnapshots ?? null,
    edgeGateway: opts.edgeGateway ?? null,
    readyQueues: opts.readyQueues ?? null,
    alerts: opts.alerts ?? { egress: defaultAlertEgress(), baseUrl: null },
  };
  const app = new Hono();
  // First: it times and counts everything below, the body-size refusal included.
  if (opts.metrics || opts.accessLog) {
    app.use("*", observeRequests({ metrics: opts.metrics ?? null, accessLog: opts.accessLog ? opts.log.child({ component: "http" }) : null }));
  }
  // A declared oversize body is refused before anything else looks at the
  // request; bodies without (or with a false) Content-Length are counted as
  // they are read (body.ts).
  app.use("*", async (c, next) => {
    checkDeclaredLength(c.req.raw, deps.maxBodyBytes);
    await next();
  });
  // Prometheus text, for a scraper: public like /healthz (no ids or names in it unless
  // --metrics-workflow-labels adds project and workflow names; README "### Metrics").
  const metrics = opts.metrics;
  if (metrics) app.get("/metrics", async () => new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } }));
  for (const route of deps.routes) mountRoute(app, route, deps);
  if (deps.edgeGateway) mountEdgeGateway(app, deps.edgeGateway);
  // A path the API serves, with a method it does not take: 405 and Allow (method-not-allowed.ts);
  // anything else no route took: 404. The UI hands its /api/… misses here too.
  const methods = methodTable(deps.routes);
  const unrouted = (c: Context) => {
    const allowed = methods.allowed(c.req.path);
    if (allowed.length > 0) {
      c.header("Allow", allowed.join(", "));
      return c.json(errorBody("METHOD_NOT_ALLOWED", `${c.req.method} is not a method of ${c.req.path}: it takes ${allowed.join(", ")} (see /api/docs)`), 405);
    }
    return c.json(errorBody("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}: see /api/docs or /api/v1/openapi.json`), 404);
  };
  // The web UI answers the GETs no route took (ui-assets.ts); without it they are 404 as before.
  if (opts.ui !== undefined) mountUi(app, opts.ui, unrouted);
  app.notFound(unrouted);
  app.onError((err, c) => errorResponse(err, c, deps.log));
  return app;
}
