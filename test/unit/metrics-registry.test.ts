import { describe, expect, test } from "bun:test";
import { createMetricsRegistry, MetricsDefinitionError } from "../../src/metrics/registry.ts";
import { registerProcessMetrics } from "../../src/metrics/process-metrics.ts";

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
});
