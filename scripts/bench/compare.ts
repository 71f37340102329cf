// The side-by-side table of run.ts: one line per comparison (shape + metric, and which
// statistic), one column per system (porpoise on SQLite and Postgres, the cluster and its
// variants, the peers), the porpoise ÷ peer ratios, and porpoise's targets from issues 5 and 10
// with met / not met.
// Not a scenario (exports no `run`).

import { METRICS, SYSTEMS, type BenchSummary } from "./bench-types.ts";

type Stat = "median" | "p99";
type Better = "lower" | "higher";

interface Line {
  shape: string;
  metric: string;
  unit: string;
  better: Better;
  stat: Stat;
}

type Peer = "bullmq" | "graphile-worker";
const PEERS: Peer[] = ["bullmq", "graphile-worker"];

/** A target for one porpoise system on one line: a bound, peers to be ahead of, or both. */
interface Target {
  system: (typeof SYSTEMS)[number];
  shape: string;
  metric: string;
  stat: Stat;
  bound?: number;
  beat?: Peer[];
}

// issue 5 ("Targets for `porpoise all`"). DESIGN.md §6 states stricter long-term figures
// (0.3 ms per edge, p50 ≤ 1 ms / p99 ≤ 10 ms, 20,000 tasks/s); the are the ones to meet now.
// issue 10 ("Benchmarks") adds the cluster's: takeover ≤ 2 × lease is for the 2 s lease of
// cluster-takeover.ts.
const TARGETS: Target[] = [
  { system: "porpoise-sqlite", ...METRICS.chainPerEdge, stat: "median", bound: 1 },
  { system: "porpoise-postgres", ...METRICS.chainPerEdge, stat: "median", bound: 3 },
  { system: "porpoise-cluster", ...METRICS.chainPerEdge, stat: "median", bound: 1, beat: ["bullmq"] },
  { system: "porpoise-sqlite", ...METRICS.trigger, stat: "median", bound: 2 },
  { system: "porpoise-postgres", ...METRICS.trigger, stat: "median", bound: 2 },
  { system: "porpoise-cluster", ...METRICS.trigger, stat: "median", bound: 3 },
  { system: "porpoise-sqlite", ...METRICS.trigger, stat: "p99", bound: 20 },
  { system: "porpoise-postgres", ...METRICS.trigger, stat: "p99", bound: 20 },
  { system: "porpoise-cluster", ...METRICS.trigger, stat: "p99", bound: 10 },
  { system: "porpoise-sqlite", ...METRICS.throughput, stat: "median", bound: 10_000, beat: PEERS },
  { system: "porpoise-postgres", ...METRICS.throughput, stat: "median", bound: 5_000, beat: PEERS },
  { system: "porpoise-cluster", ...METRICS.throughput, stat: "median", beat: PEERS },
  { system: "porpoise-cluster-2x2", ...METRICS.throughput, stat: "median", beat: PEERS },
  { system: "porpoise-cluster", ...METRICS.pgTransactionsPerTask, stat: "median", bound: 1 },
  { system: "porpoise-cluster-2x2", ...METRICS.pgTransactionsPerTask, stat: "median", bound: 1 },
  { system: "porpoise-cluster", ...METRICS.fanIn, stat: "median", beat: PEERS },
  { system: "porpoise-sqlite", ...METRICS.idleRss, stat: "median", bound: 60 },
  { system: "porpoise-postgres", ...METRICS.idleRss, stat: "median", bound: 60 },
  { system: "porpoise-cluster", ...METRICS.idleRssMaster, stat: "median", bound: 60 },
  { system: "porpoise-cluster", ...METRICS.idleRssWorker, stat: "median", bound: 40 },
  { system: "porpoise-sqlite", ...METRICS.coldStart, stat: "median", bound: 150 },
  { system: "porpoise-cluster", ...METRICS.takeover, stat: "median", bound: 4_000 },
];

/** Lines whose tail matters get a p99 line too (issue 5 asks p50/p99 for trigger latency and cron lateness). */
const WITH_P99 = new Set(["trigger", "cron"]);

const betterOf = new Map<string, Better>(Object.values(METRICS).map((m) => [`${m.shape}\u0000${m.metric}`, m.better]));

/**
 * cron-fire.ts predates the comparison fields: its lateness row is mapped onto the "cron" line
 * here until it sets system/shape itself.
 */
export function withComparisonFields(s: BenchSummary): BenchSummary {
  if (s.shape === undefined && s.scenario === "cron-fire" && /lateness/.test(s.metric)) {
    return { ...s, system: "porpoise-sqlite", shape: METRICS.cronLateness.shape, metric: METRICS.cronLateness.metric, note: s.note ?? s.metric };
  }
  return s;
}

export interface ComparisonLine extends Line {
  values: Record<string, number | undefined>;
  /** Systems whose p99 cell is really their max (fewer than 100 samples). */
  maxForP99: string[];
  targets: { system: string; text: string; met: boolean | null }[];
}

function statOf(s: BenchSummary, stat: Stat): number | undefined {
  // With fewer than 100 samples there is no p99 (bench-types summarize); the max stands in.
  return stat === "median" ? s.median : (s.p99 ?? (s.runs > 0 ? s.max : undefined));
}

export function comparisonLines(summaries: BenchSummary[]): ComparisonLine[] {
  const lines = new Map<string, ComparisonLine>();
  const order = (shape: string) => {
    const i = (METRICS_ORDER as readonly string[]).indexOf(shape);
    return i < 0 ? 99 : i;
  };
  for (const raw of summaries) {
    const s = withComparisonFields(raw);
    if (!s.shape || !s.system) continue;
    for (const stat of WITH_P99.has(s.shape) ? (["median", "p99"] as const) : (["median"] as const)) {
      const key = `${s.shape}\u0000${s.metric}\u0000${stat}`;
      let line = lines.get(key);
      if (!line) {
        const better = betterOf.get(`${s.shape}\u0000${s.metric}`) ?? (s.unit.endsWith("/s") ? "higher" : "lower");
        line = { shape: s.shape, metric: s.metric, unit: s.unit, better, stat, values: {}, maxForP99: [], targets: [] };
        lines.set(key, line);
      }
      line.values[s.system] = statOf(s, stat);
      if (stat === "p99" && s.p99 === undefined) line.maxForP99.push(s.system);
    }
  }
  for (const line of lines.values()) {
    for (const t of TARGETS) {
      if (t.shape !== line.shape || t.metric !== line.metric || t.stat !== line.stat) continue;
      const v = line.values[t.system];
      const sign = line.better === "lower" ? "≤" : "≥";
      const peers = (t.beat ?? []).filter((p) => line.values[p] !== undefined);
      const parts = [t.bound === undefined ? null : `${sign} ${fmt(t.bound)}`, t.beat ? `ahead of ${t.beat.map((p) => SHORT[p]).join(" and ")}` : null].filter(Boolean);
      const text = `${SHORT[t.system]} ${parts.join(" and ")}`;
      // A target that is only "ahead of the peers" says nothing without a peer figure.
      if (v === undefined || Number.isNaN(v) || (t.bound === undefined && peers.length === 0)) {
        line.targets.push({ system: t.system, text, met: null });
        continue;
      }
      const beats = (a: number, b: number) => (line.better === "lower" ? a <= b : a >= b);
      const met = (t.bound === undefined || beats(v, t.bound)) && peers.every((p) => beats(v, line.values[p]!));
      line.targets.push({ system: t.system, text, met });
    }
  }
  return [...lines.values()].sort((a, b) => order(a.shape) - order(b.shape) || (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0) || (a.stat === "median" ? -1 : 1));
}

const METRICS_ORDER = ["chain-40", "trigger", "throughput", "fan-in", "shell", "cron", "footprint", "failover"] as const;

export function fmt(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

const SHORT: Record<string, string> = {
  "porpoise-sqlite": "sqlite",
  "porpoise-postgres": "pg",
  "porpoise-cluster": "cluster",
  "porpoise-cluster-2x2": "cluster 2×2",
  "porpoise-cluster-nocache": "cluster no cache",
  bullmq: "bullmq",
  "graphile-worker": "graphile",
};

export function comparisonMarkdown(lines: ComparisonLine[]): string {
  const porpoise = ["porpoise-sqlite", "porpoise-postgres", "porpoise-cluster"];
  const peers = PEERS;
  const ratioCols = porpoise.flatMap((p) => peers.map((q) => [p, q] as const));
  const head = ["shape", "metric", "stat", "better", ...SYSTEMS, ...ratioCols.map(([p, q]) => `${SHORT[p]} ÷ ${SHORT[q]}`), "target (issues 5, 10)"];
  const out = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 4 || i === head.length - 1 ? "---" : "--:")).join("|")}|`];
  for (const l of lines) {
    const cell = (system: string) => {
      const text = fmt(l.values[system]);
      return text === "–" ? text : `${text} ${l.unit}${l.maxForP99.includes(system) ? " *" : ""}`;
    };
    const ratio = (p: string, q: string) => {
      const a = l.values[p];
      const b = l.values[q];
      return a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || !b ? "–" : `${(a / b).toFixed(2)}×`;
    };
    const target = l.targets.map((t) => `${t.text} ${t.met === null ? "(no figure)" : t.met ? "✓ met" : "✗ not met"}`).join("; ");
    out.push(`| ${[l.shape, l.metric, l.stat === "median" ? "median" : "p99", l.better, ...SYSTEMS.map(cell), ...ratioCols.map(([p, q]) => ratio(p, q)), target || ""].join(" | ")} |`);
  }
  out.push("", "Ratios are porpoise ÷ peer on the same line: below 1× is porpoise ahead where lower is better, above 1× where higher is better.");
  if (lines.some((l) => l.maxForP99.length > 0)) out.push("\\* fewer than 100 samples: the p99 cell shows the maximum.");
  return out.join("\n");
}
