// The contract between scripts/bench/run.ts and its scenario modules, plus small
// measuring helpers. A scenario is any `scripts/bench/*.ts` module exporting
// `name` and `run` (directly or as its default export); run.ts finds it by itself.

export type BenchSize = "smoke" | "full";

export interface BenchRow {
  scenario: string;
  metric: string;
  unit: string;
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
