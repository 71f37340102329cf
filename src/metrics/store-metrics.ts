// The store as this process uses it, read on each scrape from Store.stats() (store/store-stats.ts).

import type { MetricsRegistry } from "./registry.ts";

export interface StoreFigures {
  inFlight: number;
  poolSize: number;
  poolRenewals: number;
  errors: Record<string, number>;
}

export function registerStoreMetrics(metrics: MetricsRegistry, stats: () => StoreFigures): void {
  metrics.counter({
    name: "porpoise_store_errors_total",
    help: "Store calls that failed, by kind: unreachable (the database did not answer: an outage, retried), retryable (serialization failure or deadlock, retried), failed (any other database error).",
    labels: ["kind"],
    collect: (c) => {
      c.reset();
      for (const [kind, n] of Object.entries(stats().errors)) c.labels(kind).inc(n);
    },
  });
  metrics.gauge({
    name: "porpoise_store_statements_in_flight",
    help: "Store calls (queries and transactions) running or waiting for a connection now; above porpoise_store_pool_size they queue.",
    collect: (g) => g.set(stats().inFlight),
  });
  metrics.gauge({ name: "porpoise_store_pool_size", help: "Connections this process may open to the store: 1 for SQLite, the pool's maximum for Postgres.", collect: (g) => g.set(stats().poolSize) });
  metrics.counter({
    name: "porpoise_store_pool_renewals_total",
    help: "Times the Postgres connection pool was replaced by a fresh one after it lost a connection (a database restart or network cut); 0 on SQLite.",
    collect: (c) => {
      c.reset();
      c.inc(stats().poolRenewals);
    },
  });
}
