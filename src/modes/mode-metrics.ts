// The metrics registry of one serving process, made by its mode (never a global): process
// figures first, then what each part of the mode registers on it (README "### Metrics").

import type { Config } from "../config.ts";
import type { ServeMode } from "../config/settings.ts";
import { registerProcessMetrics } from "../metrics/process-metrics.ts";
import { createMetricsRegistry, type MetricsRegistry } from "../metrics/registry.ts";
import { VERSION } from "../version.ts";

export function modeMetrics(config: Config, mode: ServeMode): MetricsRegistry {
  const metrics = createMetricsRegistry({ workflowLabels: config.metricsWorkflowLabels });
  registerProcessMetrics(metrics, { version: VERSION, mode });
  return metrics;
}
