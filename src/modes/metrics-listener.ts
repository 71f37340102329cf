// The small HTTP listener of the modes that serve no API (master, worker, edge worker): GET /metrics
// (Prometheus text), /healthz (the process is up) and /readyz (ready, or 503 with every reason
// not to be), on --host and --metrics-port (default 9464, Prometheus' port range for exporters).
// Probes and scrapers reach a master or worker pod through it (README "### Metrics").

import type { Logger } from "../core/log.ts";
import { notReadyReasons, type ReadinessCheck } from "../api/readiness.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { VERSION } from "../version.ts";
import { type HttpServer, startHttpServer } from "./http-server.ts";

export function startMetricsListener(o: { host: string; port: number; metrics: MetricsRegistry; checks: () => readonly ReadinessCheck[]; log: Logger }): HttpServer {
  return startHttpServer({
    host: o.host,
    port: o.port,
    portFlag: "--metrics-port",
    maxBodyBytes: 1024,
    tls: null,
    fetch: async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") {
        return Response.json(error("METHOD_NOT_ALLOWED", `${req.method} is not served here: only GET /metrics, /healthz and /readyz`), { status: 405, headers: { allow: "GET, HEAD" } });
      }
      if (path === "/metrics") return new Response(await o.metrics.render(), { headers: { "content-type": o.metrics.contentType } });
      if (path === "/healthz") return Response.json({ status: "ok", version: VERSION });
      if (path === "/readyz") {
        const reasons = await notReadyReasons(o.checks());
        if (reasons.length === 0) return Response.json({ status: "ready", version: VERSION });
        return Response.json({ error: { code: "NOT_READY", message: `not ready: ${reasons.map((r) => r.message).join("; ")}`, details: reasons } }, { status: 503 });
      }
      return Response.json(error("NOT_FOUND", `no route for GET ${path}: this listener serves /metrics, /healthz and /readyz`), { status: 404 });
    },
  });
}

function error(code: string, message: string) {
  return { error: { code, message, details: [] } };
}
