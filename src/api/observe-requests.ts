// Every HTTP request, once answered: counted in the metrics by route template and status code
// (metrics/http-metrics.ts), and — with --access-log — one log line with fields (method, route,
// path, status, duration, client address). The route is hono's matched template, so ids and
// names never become label values; a request no route matched is route="unmatched", the web
// UI's pages and assets route="/*".

import type { MiddlewareHandler } from "hono";
import type { Logger } from "../core/log.ts";
import { HttpMetrics, KNOWN_METHODS } from "../metrics/http-metrics.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";

export function observeRequests(o: { metrics: MetricsRegistry | null; accessLog: Logger | null }): MiddlewareHandler {
  const http = o.metrics ? new HttpMetrics(o.metrics) : null;
  const access = o.accessLog;
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const status = c.res.status;
      // A wildcard is this middleware itself or the web UI's catch-all: "/*" when the UI served a
      // page or asset, "unmatched" when no route took the request (404, or 405 for a wrong method).
      const matched = c.req.routePath;
      const wildcard = matched === "/*" || matched === "*" || matched === "";
      const route = wildcard ? (status < 400 ? "/*" : "unmatched") : matched;
      const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : "OTHER";
      http?.observe(method, route, status, seconds);
      access?.info("http request", {
        method,
        route,
        path: c.req.path,
        status,
        durationMs: Math.round(seconds * 10_000) / 10,
        client: (c.env as { clientIp?: string | null } | undefined)?.clientIp ?? null,
      });
    }
  };
}
