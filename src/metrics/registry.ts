// The metrics registry of one porpoise process: a dependency passed in (STYLE.md habit 3), never
// prom-client's global registry. Every module that counts something asks it for its metric by
// name; asking twice for the same name returns the same metric, so two parts of one process
// (the api and the engine of `porpoise all`) can both ask without coordinating.
//
// Rules it enforces, so the exposition stays usable (README "### Metrics"):
// - names start with `porpoise_` and are snake_case; counters end in `_total`;
// - labels are declared up front and are few; values must come from a bounded set (states,
//   task types, route templates, worker groups) — never ids, paths or user text;
// - every metric has a `help` text a user understands (it is the `# HELP` line).
//
// Hot paths bind label values once (`counter.labels(...)` kept in a field or a Map) and then
// call `inc()` / `observe()`: a bound child is one add (bound-metrics.ts; README, Performance).

// prom-client's Registry (the exposition) and Gauge, each from its own file; counters and
// histograms are bound-metrics.ts's. Its index also loads the push gateway (http, https), cluster
// aggregation, default collectors and @opentelemetry/api, which porpoise never uses. Measured
// (bun, RSS after GC, 3 runs each): nothing 25.0 MB, the index 41.9 MB (+17 MB), registry +
// counter + gauge + histogram files 30.7 MB (+5.7 MB, of which node:util, which gauge.js loads, ~4 MB).
import Gauge from "prom-client/lib/gauge.js";
import Registry from "prom-client/lib/registry.js";
import type { Gauge as GaugeType } from "prom-client";
import { BoundCounter, BoundHistogram, type Counter, type Histogram } from "./bound-metrics.ts";

export type { Counter, CounterChild, Histogram, HistogramChild } from "./bound-metrics.ts";
export type { Gauge } from "prom-client";
type Gauge<L extends string> = GaugeType<L>;

export interface MetricSpec<L extends string> {
  /** `porpoise_…`; counters end in `_total`, durations in `_seconds`. */
  name: string;
  /** The `# HELP` line: what it counts, in words a user understands, and its unit. */
  help: string;
  labels?: readonly L[];
}

export interface GaugeSpec<L extends string> extends MetricSpec<L> {
  /** Called on every scrape to set the value(s) from the source of truth (queue depth, slots owned). */
  collect?: (gauge: Gauge<L>) => void | Promise<void>;
}

export interface HistogramSpec<L extends string> extends MetricSpec<L> {
  /** Upper bounds in the metric's unit; defaults to DURATION_BUCKETS. */
  buckets?: readonly number[];
}

/** What modules get: create-or-get metrics, and the text a scrape returns. */
/**
 * A counter whose total is kept elsewhere (Bus.dropped(), Master.staleEvents): `read` gives the
 * total since start on each scrape.
 */
export interface CounterSpec<L extends string> extends MetricSpec<L> {
  /** Called on every scrape: `counter.reset()`, then `inc()` by the totals read from their source. */
  collect?: (counter: Counter<L>) => void | Promise<void>;
}

export interface MetricsRegistry {
  counter<L extends string = never>(spec: CounterSpec<L>): Counter<L>;
  gauge<L extends string = never>(spec: GaugeSpec<L>): Gauge<L>;
  histogram<L extends string = never>(spec: HistogramSpec<L>): Histogram<L>;
  /** The Prometheus text exposition (version 0.0.4) of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
  /** Options every module reads the same way. */
  readonly options: MetricsOptions;
}

export interface MetricsOptions {
  /**
   * Add `project` and `workflow` labels to the workflow-run metrics (--metrics-workflow-labels).
   * Off by default: their number grows with the number of workflows.
   */
  workflowLabels: boolean;
}

/** Seconds: 5 ms to 1 h, for task and run durations, queue waits and schedule delays. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;
/** Seconds: 1 ms to 10 s, for HTTP requests. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10] as const;

const NAME = /^porpoise_[a-z][a-z0-9_]*$/;
const LABEL = /^[a-z][a-z0-9_]*$/;

export class MetricsDefinitionError extends Error {
  readonly code = "METRIC_DEFINITION";
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

export function createMetricsRegistry(options: Partial<MetricsOptions> = {}): MetricsRegistry {
  const registry = new Registry();
  const made = new Map<string, { kind: string; labels: string; metric: AnyMetric }>();

  function check(kind: string, spec: MetricSpec<string>): AnyMetric | null {
    if (!NAME.test(spec.name)) throw new MetricsDefinitionError(`metric name ${JSON.stringify(spec.name)}: expected porpoise_ followed by lower-case letters, digits and _`);
    if (kind === "counter" && !spec.name.endsWith("_total")) throw new MetricsDefinitionError(`counter ${spec.name}: a counter's name ends in _total`);
    if (spec.help.trim().length < 10) throw new MetricsDefinitionError(`metric ${spec.name}: help text missing; say what it counts and in which unit`);
    for (const l of spec.labels ?? []) if (!LABEL.test(l)) throw new MetricsDefinitionError(`metric ${spec.name}: label ${JSON.stringify(l)}: expected lower-case letters, digits and _`);
    const labels = (spec.labels ?? []).join(",");
    const seen = made.get(spec.name);
    if (!seen) return null;
    if (seen.kind !== kind || seen.labels !== labels) {
      throw new MetricsDefinitionError(`metric ${spec.name} is already defined as a ${seen.kind} with labels [${seen.labels}]; asked for a ${kind} with [${labels}]`);
    }
    return seen.metric;
  }

  function keep<M extends AnyMetric>(kind: string, spec: MetricSpec<string>, metric: M): M {
    made.set(spec.name, { kind, labels: (spec.labels ?? []).join(","), metric });
    return metric;
  }

  return {
    options: { workflowLabels: options.workflowLabels ?? false },
    contentType: registry.contentType,
    counter<L extends string = never>(spec: CounterSpec<L>): Counter<L> {
      const found = check("counter", spec);
      if (found) return found as Counter<L>;
      const counter = new BoundCounter<L>(spec.name, spec.help, [...(spec.labels ?? [])], spec.collect);
      registry.registerMetric(counter as never);
      return keep("counter", spec, counter);
    },
    gauge<L extends string = never>(spec: GaugeSpec<L>): Gauge<L> {
      const found = check("gauge", spec);
      if (found) return found as Gauge<L>;
      const collect = spec.collect;
      return keep(
        "gauge",
        spec,
        new Gauge<L>({
          name: spec.name,
          help: spec.help,
          labelNames: [...(spec.labels ?? [])],
          registers: [registry],
          ...(collect ? { collect(this: Gauge<L>) { return collect(this); } } : {}),
        }),
      );
    },
    histogram<L extends string = never>(spec: HistogramSpec<L>): Histogram<L> {
      const found = check("histogram", spec);
      if (found) return found as Histogram<L>;
      const histogram = new BoundHistogram<L>(spec.name, spec.help, [...(spec.labels ?? [])], [...(spec.buckets ?? DURATION_BUCKETS)]);
      registry.registerMetric(histogram as never);
      return keep("histogram", spec, histogram);
    },
    render: () => registry.metrics(),
  };
}
