import { describe, expect, test } from "bun:test";
import { createMetricsRegistry, MetricsDefinitionError } from "../../src/metrics/registry.ts";
import { registerProcessMetrics } from "../../src/metrics/process-metrics.ts";
import { Histogram as PromHistogram, Registry as PromRegistry } from "prom-client";

describe("metrics registry", () => {
  test("counters, gauges and histograms render as Prometheus text with HELP and TYPE lines", async () => {
    const m = createMetricsRegistry();
    const c = m.counter({ name: "porpoise_things_total", help: "Things that happened, by kind.", labels: ["kind"] });
    const a = c.labels("a");
    a.inc();
    a.inc(2);
    m.gauge({ name: "porpoise_depth", help: "How deep the queue is, in tasks.", collect: (g) => g.set(7) });
    m.histogram({ name: "porpoise_wait_seconds", help: "How long things waited, in seconds.", buckets: [0.1, 1] }).observe(0.5);
    const text = await m.render();
    expect(text).toContain("# HELP porpoise_things_total Things that happened, by kind.");
    expect(text).toContain("# TYPE porpoise_things_total counter");
    expect(text).toContain('porpoise_things_total{kind="a"} 3');
    expect(text).toContain("porpoise_depth 7");
    expect(text).toContain('porpoise_wait_seconds_bucket{le="0.1"} 0');
    expect(text).toContain('porpoise_wait_seconds_bucket{le="1"} 1');
    expect(text).toContain("porpoise_wait_seconds_count 1");
    expect(m.contentType).toContain("text/plain");
  });

  test("asking twice for the same metric returns it; a different shape under the same name is refused", () => {
    const m = createMetricsRegistry();
    const one = m.counter({ name: "porpoise_x_total", help: "X happened, counted.", labels: ["state"] });
    expect(m.counter({ name: "porpoise_x_total", help: "X happened, counted.", labels: ["state"] })).toBe(one);
    expect(() => m.gauge({ name: "porpoise_x_total", help: "X happened, counted.", labels: ["state"] })).toThrow(/already defined as a counter/);
    expect(() => m.counter({ name: "porpoise_x_total", help: "X happened, counted.", labels: ["other"] })).toThrow(/labels \[state\]/);
  });

  test("bad definitions name what is expected", () => {
    const m = createMetricsRegistry();
    expect(() => m.counter({ name: "things_total", help: "Things that happened." })).toThrow(MetricsDefinitionError);
    expect(() => m.counter({ name: "porpoise_things", help: "Things that happened." })).toThrow(/ends in _total/);
    expect(() => m.gauge({ name: "porpoise_g", help: "" })).toThrow(/help text missing/);
    expect(() => m.gauge({ name: "porpoise_g", help: "A gauge with a bad label.", labels: ["Bad-Label"] })).toThrow(/label "Bad-Label"/);
  });

  test("two registries never share figures (no global singleton)", async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    a.counter({ name: "porpoise_y_total", help: "Y happened, counted." }).inc(5);
    b.counter({ name: "porpoise_y_total", help: "Y happened, counted." });
    expect(await a.render()).toContain("porpoise_y_total 5");
    expect(await b.render()).toContain("porpoise_y_total 0");
  });

  test("process metrics: build info with version and mode, start time, resident memory", async () => {
    const m = createMetricsRegistry({ workflowLabels: true });
    expect(m.options.workflowLabels).toBe(true);
    registerProcessMetrics(m, { version: "1.2.3", mode: "worker" });
    const text = await m.render();
    expect(text).toContain('porpoise_build_info{version="1.2.3",mode="worker"} 1');
    const rss = Number(/^porpoise_process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    expect(rss).toBeGreaterThan(1_000_000);
    const start = Number(/^porpoise_process_start_time_seconds (\S+)$/m.exec(text)?.[1]);
    expect(Math.abs(start - Date.now() / 1000)).toBeLessThan(3600);
  });

  test("bound counters and histograms render exactly as prom-client's own would for the same observations", async () => {
    const ours = createMetricsRegistry();
    const theirs = new PromRegistry();
    const buckets = [0.01, 0.1, 1, 10];
    const spec = { name: "porpoise_run_seconds", help: "How long runs took, in seconds.", labelNames: ["type", "state"] };
    const h = ours.histogram({ name: spec.name, help: spec.help, labels: ["type", "state"], buckets });
    const p = new PromHistogram({ ...spec, buckets, registers: [theirs] });
    const values = [0, 0.005, 0.01, 0.011, 0.5, 1, 3, 10, 10.5, 99];
    const shell = h.labels("shell", "SUCCESS");
    for (const v of values) {
      shell.observe(v);
      p.labels("shell", "SUCCESS").observe(v);
    }
    h.labels("noop", "FAILURE").observe(0.2);
    p.labels("noop", "FAILURE").observe(0.2);
    expect(await ours.render()).toBe(await theirs.metrics());

    const c = ours.counter({ name: "porpoise_n_total", help: "N things, counted.", labels: ["kind"] });
    c.labels("a").inc();
    c.labels("a").inc(2.5);
    expect(await ours.render()).toContain('porpoise_n_total{kind="a"} 3.5');
    c.reset();
    expect(await ours.render()).not.toContain('porpoise_n_total{kind="a"}');
  });

  test("misuse is refused naming what is expected: negative increments, wrong label counts, labels missing, bad buckets", () => {
    const m = createMetricsRegistry();
    const c = m.counter({ name: "porpoise_m_total", help: "M things, counted.", labels: ["kind"] });
    expect(() => c.labels("a").inc(-1)).toThrow(/only goes up/);
    expect(() => c.labels("a", "b")).toThrow(/expected 1 label values \(kind\), got 2/);
    expect(() => c.inc()).toThrow(/bind a child with labels/);
    const h = m.histogram({ name: "porpoise_h_seconds", help: "H durations, in seconds.", labels: ["kind"] });
    expect(() => h.labels("a").observe(Number.NaN)).toThrow(/finite/);
    expect(() => m.histogram({ name: "porpoise_bad_seconds", help: "Bad buckets, in seconds.", buckets: [1, 1] })).toThrow(/increasing/);
  });

  test("per-call cost of a bound child against prom-client's (printed, not asserted)", () => {
    const m = createMetricsRegistry();
    const ours = { c: m.counter({ name: "porpoise_c_total", help: "C things, counted.", labels: ["state", "type"] }).labels("SUCCESS", "noop"), h: m.histogram({ name: "porpoise_d_seconds", help: "D durations, in seconds.", labels: ["type"] }).labels("noop") };
    const reg = new PromRegistry();
    const { Counter: PromCounter } = require("prom-client") as typeof import("prom-client");
    const theirs = { c: new PromCounter({ name: "x_total", help: "x", labelNames: ["state", "type"], registers: [reg] }).labels("SUCCESS", "noop"), h: new PromHistogram({ name: "y", help: "y", labelNames: ["type"], registers: [reg] }).labels("noop") };
    const time = (fn: () => void) => {
      const n = 200_000;
      const t = performance.now();
      for (let i = 0; i < n; i++) fn();
      return (((performance.now() - t) * 1000) / n).toFixed(3);
    };
    console.log(`inc: bound ${time(() => ours.c.inc())} µs, prom-client ${time(() => theirs.c.inc())} µs; observe: bound ${time(() => ours.h.observe(0.003))} µs, prom-client ${time(() => theirs.h.observe(0.003))} µs`);
  });
});
