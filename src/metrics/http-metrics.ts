// HTTP requests by method, route TEMPLATE (`/api/v1/projects/:project/workflows/:name`, never
// the raw path: ids and names would make a series per object) and status code, with latency.
// A request no route matched counts under route="unmatched".

import type { Counter, CounterChild, Histogram, HistogramChild, MetricsRegistry } from "./registry.ts";
import { LATENCY_BUCKETS } from "./registry.ts";

export class HttpMetrics {
  private readonly requests: Counter<"method" | "route" | "code">;
  private readonly latency: Histogram<"method" | "route">;
  private readonly requestChildren = new Map<string, CounterChild>();
  private readonly latencyChildren = new Map<string, HistogramChild>();

  constructor(metrics: MetricsRegistry) {
    this.requests = metrics.counter({
      name: "porpoise_http_requests_total",
      help: "HTTP requests answered, by method, route template (route=\"unmatched\" when no route matched) and status code.",
      labels: ["method", "route", "code"],
    });
    this.latency = metrics.histogram({
      name: "porpoise_http_request_duration_seconds",
      help: "Time to answer HTTP requests (until the response headers; a streamed body such as a log follow is not included), in seconds, by method and route template.",
      labels: ["method", "route"],
      buckets: LATENCY_BUCKETS,
    });
  }

  observe(method: string, route: string, code: number, seconds: number): void {
    const key = `${method} ${route}`;
    const codeKey = `${key} ${code}`;
    let c = this.requestChildren.get(codeKey);
    if (!c) this.requestChildren.set(codeKey, (c = this.requests.labels(method, route, String(code))));
    c.inc();
    let h = this.latencyChildren.get(key);
    if (!h) this.latencyChildren.set(key, (h = this.latency.labels(method, route)));
    h.observe(seconds);
  }
}

/** Methods outside this list count as OTHER (a client can send any token as a method). */
export const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
