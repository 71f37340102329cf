// What a scheduler records: each fire's outcome, how late a created run was against its planned
// fire time (the delay histogram alerting watches), and fires missed and skipped by a catch-up policy.

import type { Counter, CounterChild, Histogram, HistogramChild, MetricsRegistry } from "./registry.ts";

export const FIRE_OUTCOMES = ["created", "exists", "skipped", "stale", "failed"] as const;
export type FireOutcome = (typeof FIRE_OUTCOMES)[number];

export class ScheduleMetrics {
  private readonly fires: Record<FireOutcome, CounterChild>;
  private readonly delay: Histogram<never>;
  private readonly misfires: Counter<"reason">;

  constructor(metrics: MetricsRegistry, figures: { schedules: () => number }) {
    const fires = metrics.counter({
      name: "porpoise_schedule_fires_total",
      help: "Schedule fires handled by this node's scheduler, by outcome: created (a run was created), exists (another node or an earlier try created it), skipped (schedule offline or deleted), stale (this node lost the slot's lease), failed (the store refused; retried).",
      labels: ["outcome"],
    });
    this.fires = Object.fromEntries(FIRE_OUTCOMES.map((o) => [o, fires.labels(o)])) as Record<FireOutcome, CounterChild>;
    for (const child of Object.values(this.fires)) child.inc(0);
    this.delay = metrics.histogram({
      name: "porpoise_schedule_delay_seconds",
      help: "How late a scheduled run was created: actual minus planned fire time, in seconds (catch-up fires after a restart count their whole lateness).",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600],
    });
    this.misfires = metrics.counter({
      name: "porpoise_schedule_misfires_total",
      help: "Planned fires that did not run: skipped by a schedule's catch-up policy after downtime (reason=catchup_policy) or beyond what catch-up replays (reason=too_many).",
      labels: ["reason"],
    });
    this.misfires.labels("catchup_policy").inc(0);
    this.misfires.labels("too_many").inc(0);
    metrics.gauge({ name: "porpoise_schedules_loaded", help: "Online schedules this node's scheduler fires (those of the slots it owns).", collect: (g) => g.set(figures.schedules()) });
  }

  /** `createdAt`: epoch ms the Store stamped on the created run (ignored for other outcomes). */
  fired(outcome: FireOutcome, fireTime: Date, createdAt: number): void {
    this.fires[outcome].inc();
    if (outcome === "created") this.delay.observe(Math.max(0, createdAt - fireTime.getTime()) / 1000);
  }

  failed(count: number): void {
    this.fires.failed.inc(count);
  }

  missed(reason: "catchup_policy" | "too_many", count: number): void {
    if (count > 0) this.misfires.labels(reason).inc(count);
  }
}
