// What an edge worker (`porpoise worker --gateway`) shows about its link, besides the worker's
// own figures (worker-metrics.ts): what it still owes the gateway (the spool), whether the
// gateway answers, how long ago a heartbeat got through, and what the gateway did not take as
// new. All read on each scrape from the link and the spool: nothing is counted twice.

import type { MetricsRegistry } from "./registry.ts";

export const EDGE_REPORT_OUTCOMES = ["duplicate", "superseded", "refused"] as const;
export type EdgeReportOutcome = (typeof EDGE_REPORT_OUTCOMES)[number];

export interface EdgeFigures {
  /** Spooled items not yet taken by the gateway: task events (results among them) and log chunks. */
  unsent: () => { event: number; log: number };
  /** The last call to the gateway got an answer (null: none ended yet). */
  reachable: () => boolean | null;
  /** Seconds since the last heartbeat (or register) the gateway answered was sent. */
  heartbeatAgeSeconds: () => number;
  /** Totals since start of items the gateway did not take as new. */
  outcomes: () => Record<EdgeReportOutcome, number>;
}

export function registerEdgeMetrics(metrics: MetricsRegistry, figures: EdgeFigures): void {
  metrics.gauge({
    name: "porpoise_edge_spool_items",
    help: "Items this edge worker spooled in its data dir and the gateway has not taken yet, by type: event (task starts and results) and log (log chunks).",
    labels: ["type"],
    collect: (g) => {
      const n = figures.unsent();
      g.labels("event").set(n.event);
      g.labels("log").set(n.log);
    },
  });
  metrics.gauge({
    name: "porpoise_edge_gateway_reachable",
    help: "1 when the last call of this edge worker to its gateway got an answer, 0 when it got none (refused, cut off, timed out) or none ended yet.",
    collect: (g) => g.set(figures.reachable() === true ? 1 : 0),
  });
  metrics.gauge({
    name: "porpoise_edge_heartbeat_age_seconds",
    help: "Seconds since this edge worker sent the last heartbeat (or register) its gateway answered; before the first register, since the worker started. Past the edge lease the gateway reruns its attempts.",
    collect: (g) => g.set(Math.round(figures.heartbeatAgeSeconds() * 1000) / 1000),
  });
  metrics.counter({
    name: "porpoise_edge_reports_not_taken_total",
    help: "Spooled items the gateway did not take as new, by outcome: duplicate (it had the result already: a resend), superseded (the attempt ended otherwise meanwhile; stopped here), refused (refused for good, e.g. forged or malformed; dropped).",
    labels: ["outcome"],
    collect: (c) => {
      c.reset();
      const o = figures.outcomes();
      for (const outcome of EDGE_REPORT_OUTCOMES) c.labels(outcome).inc(o[outcome]);
    },
  });
}
