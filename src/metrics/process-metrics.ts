// Figures every porpoise process exposes, whatever its mode: which build and mode it is, when it
// started and how much memory it holds. (prom-client's default collectors are left out: they
// read Node internals that Bun answers only in part, and their names carry no porpoise_ prefix.)

import type { MetricsRegistry } from "./registry.ts";

export function registerProcessMetrics(metrics: MetricsRegistry, info: { version: string; mode: string }): void {
  metrics.gauge({ name: "porpoise_build_info", help: "Always 1; its labels say which porpoise version runs in which mode (all, api, master, worker).", labels: ["version", "mode"] }).labels(info.version, info.mode).set(1);
  metrics.gauge({ name: "porpoise_process_start_time_seconds", help: "When this process started, in seconds since the Unix epoch." }).set(Math.round(Date.now() - performance.now()) / 1000);
  metrics.gauge({
    name: "porpoise_process_resident_memory_bytes",
    help: "Resident memory (RSS) of this process, in bytes.",
    collect: (g) => g.set(process.memoryUsage.rss()),
  });
}
