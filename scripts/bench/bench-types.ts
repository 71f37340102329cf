// The contract between scripts/bench/run.ts and its scenario modules, plus small
// measuring helpers. A scenario is any `scripts/bench/*.ts` module exporting
// `name` and `run` (directly or as its default export); run.ts finds it by itself.

export type BenchSize = "smoke" | "full";

/**
 * The systems of the side-by-side table (its columns). Peers (scripts/bench/peers/) emit the
 * same shapes and metric strings as porpoise's scenarios so run.ts can line them up; the exact
 * strings are listed in METRICS (and in /work/notes/bench-contract.md for the peers' author).
 */
export const SYSTEMS = [
  "porpoise-sqlite",
  "porpoise-postgres",
  // issue 10: api + master + worker processes on Postgres + Redis (scripts/bench/porpoise-cluster.ts).
  "porpoise-cluster",
  "porpoise-cluster-2x2",
  "porpoise-cluster-nocache",
  "bullmq",
  "graphile-worker",
] as const;
export type BenchSystem = (typeof SYSTEMS)[number];

export const SHAPES = ["chain-40", "trigger", "throughput", "fan-in", "shell", "cron", "footprint", "failover"] as const;
export type BenchShape = (typeof SHAPES)[number];

/** The system-independent metric of each comparison line and which direction is better. */
export const METRICS = {
  chainPerEdge: { shape: "chain-40", metric: "ms per edge", unit: "ms", better: "lower" },
  chainTotal: { shape: "chain-40", metric: "total", unit: "ms", better: "lower" },
  trigger: { shape: "trigger", metric: "trigger→running", unit: "ms", better: "lower" },
  throughput: { shape: "throughput", metric: "tasks/s", unit: "tasks/s", better: "higher" },
  fanIn: { shape: "fan-in", metric: "last parent done→sink running", unit: "ms", better: "lower" },
  shell: { shape: "shell", metric: "tasks/s", unit: "tasks/s", better: "higher" },
  cronLateness: { shape: "cron", metric: "lateness", unit: "ms", better: "lower" },
  idleRss: { shape: "footprint", metric: "idle RSS", unit: "MB", better: "lower" },
  peakRss: { shape: "footprint", metric: "peak RSS (throughput)", unit: "MB", better: "lower" },
  coldStart: { shape: "footprint", metric: "cold start to /readyz", unit: "ms", better: "lower" },
  binarySize: { shape: "footprint", metric: "binary size", unit: "MB", better: "lower" },
  pgTransactionsPerTask: { shape: "throughput", metric: "Postgres transactions per task", unit: "xact", better: "lower" },
  // machine-cpu.ts: every process's CPU over the throughput runs ÷ tasks (what bounds tasks/s on few cores).
  machineCpuPerTask: { shape: "throughput", metric: "machine CPU per task", unit: "µs", better: "lower" },
  idleRssMaster: { shape: "footprint", metric: "idle RSS master", unit: "MB", better: "lower" },
  idleRssWorker: { shape: "footprint", metric: "idle RSS worker", unit: "MB", better: "lower" },
  idleRssApi: { shape: "footprint", metric: "idle RSS api", unit: "MB", better: "lower" },
  takeover: { shape: "failover", metric: "master takeover after kill -9", unit: "ms", better: "lower" },
} as const satisfies Record<string, { shape: BenchShape; metric: string; unit: string; better: "lower" | "higher" }>;

export interface BenchRow {
  scenario: string;
  metric: string;
  unit: string;
  /** Which column of the side-by-side table this row fills (with `shape`); absent: per-scenario table only. */
  system?: string;
  /** The comparison line: rows with the same shape and metric are compared across systems. */
  shape?: string;
  /** Shown next to the row: what was measured when that is not obvious (a skipped part, the command). */
  note?: string;
  /** One measurement (a throughput over the whole run, say). */
  value?: number;
  /** Or one value per run: the runner reports median, p95 and p99 of them. */
  samples?: number[];
}

export interface BenchScenario {
  name: string;
  run(opts: { size: BenchSize }): Promise<BenchRow[]>;
}

export interface BenchSummary {
  scenario: string;
  metric: string;
  unit: string;
  system?: string;
  shape?: string;
  note?: string;
  median: number;
  /** Only with enough runs for the percentile to mean something (20 for p95, 100 for p99). */
  p95?: number;
  p99?: number;
  min: number;
  max: number;
  runs: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(row: BenchRow): BenchSummary {
  const values = row.samples ?? (row.value === undefined ? [] : [row.value]);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    scenario: row.scenario,
    metric: row.metric,
    unit: row.unit,
    ...(row.system !== undefined ? { system: row.system } : {}),
    ...(row.shape !== undefined ? { shape: row.shape } : {}),
    ...(row.note !== undefined ? { note: row.note } : {}),
    median,
    ...(sorted.length >= 20 ? { p95: percentile(sorted, 95) } : {}),
    ...(sorted.length >= 100 ? { p99: percentile(sorted, 99) } : {}),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    runs: sorted.length,
  };
}

/** Runs `fn` `warmup` times untimed, then `runs` times; milliseconds per run. */
export function timeRuns(fn: () => unknown, runs: number, warmup = 2): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so generated inputs repeat across runs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A row on a comparison line: `compared("throughput", "my-scenario", "bullmq", { value: 15000 })`. */
export function compared(
  line: keyof typeof METRICS,
  scenario: string,
  system: BenchSystem,
  data: { samples?: number[]; value?: number; note?: string },
): BenchRow {
  const { shape, metric, unit } = METRICS[line];
  return { scenario, system, shape, metric, unit, ...data };
}
