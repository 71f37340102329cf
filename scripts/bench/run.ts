// `npm run bench` — runs the benchmark scenarios, prints a markdown table and writes the
// results to bench-results/<timestamp>.json (git-ignored).
//
//   bun scripts/bench/run.ts                 all scenarios, full size
//   bun scripts/bench/run.ts --smoke         tiny sizes: checks every scenario still runs
//   bun scripts/bench/run.ts --only a,b      just these (repeatable)
//   bun scripts/bench/run.ts --list          names only
//
// A scenario is any module in this folder exporting `name` and `run({ size })` (see
// bench-types.ts); adding a file is all it takes. Scenarios run one after another in
// file-name order, in this process, so each gets the machine to itself.

import { mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { summarize, type BenchRow, type BenchScenario, type BenchSize, type BenchSummary } from "./bench-types.ts";

interface Options {
  size: BenchSize;
  only: string[];
  list: boolean;
}

function usage(problem: string): never {
  console.error(`${problem}\nusage: bun scripts/bench/run.ts [--smoke] [--only name[,name…]] [--list]`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { size: "full", only: [], list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--smoke") opts.size = "smoke";
    else if (arg === "--list") opts.list = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      if (!value) usage("--only needs a scenario name");
      opts.only.push(...value.split(",").map((s) => s.trim()).filter(Boolean));
    } else usage(`unknown argument "${arg}"`);
  }
  return opts;
}

function asScenario(mod: Record<string, unknown>): BenchScenario | null {
  const candidate = (typeof mod.run === "function" ? mod : mod.default) as Partial<BenchScenario> | undefined;
  if (candidate && typeof candidate.name === "string" && typeof candidate.run === "function") return candidate as BenchScenario;
  return null;
}

async function discover(): Promise<BenchScenario[]> {
  const files = [...new Bun.Glob("*.ts").scanSync({ cwd: import.meta.dir })].filter((f) => f !== "run.ts").sort();
  const scenarios: BenchScenario[] = [];
  for (const file of files) {
    const scenario = asScenario(await import(join(import.meta.dir, file)));
    if (scenario) scenarios.push(scenario);
  }
  return scenarios;
}

function fmt(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function markdown(summaries: BenchSummary[]): string {
  const lines = ["| scenario | metric | median | p95 | p99 | runs |", "|---|---|--:|--:|--:|--:|"];
  for (const s of summaries) {
    const unit = (v: number | undefined) => (v === undefined ? "–" : `${fmt(v)} ${s.unit}`);
    lines.push(`| ${s.scenario} | ${s.metric} | ${unit(s.median)} | ${unit(s.p95)} | ${unit(s.p99)} | ${s.runs} |`);
  }
  return lines.join("\n");
}

function gitCommit(): string | null {
  const result = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
  return result.success ? result.stdout.toString().trim() : null;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const all = await discover();
  if (opts.list) {
    for (const s of all) console.log(s.name);
    return 0;
  }
  const unknown = opts.only.filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0) usage(`unknown scenario ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${all.map((s) => s.name).join(", ")}`);
  const selected = opts.only.length > 0 ? all.filter((s) => opts.only.includes(s.name)) : all;

  const startedAt = new Date();
  const results: { scenario: string; seconds: number; rows?: (BenchSummary & { samples?: number[] })[]; error?: string }[] = [];
  const summaries: BenchSummary[] = [];
  for (const scenario of selected) {
    console.error(`running ${scenario.name} (${opts.size})…`);
    const t0 = performance.now();
    try {
      const rows: BenchRow[] = await scenario.run({ size: opts.size });
      const summarized = rows.map((row) => ({ ...summarize(row), ...(row.samples ? { samples: row.samples } : {}) }));
      summaries.push(...summarized.map(({ samples: _samples, ...s }) => s));
      results.push({ scenario: scenario.name, seconds: (performance.now() - t0) / 1000, rows: summarized });
    } catch (error) {
      console.error(`scenario ${scenario.name} failed:`, error);
      results.push({ scenario: scenario.name, seconds: (performance.now() - t0) / 1000, error: String((error as Error)?.stack ?? error) });
    }
  }

  console.log(markdown(summaries));
  const cpu = cpus();
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    size: opts.size,
    commit: gitCommit(),
    host: { cpus: cpu.length, model: cpu[0]?.model ?? "unknown", platform: process.platform, arch: process.arch, bun: Bun.version },
    results,
  };
  const dir = join(import.meta.dir, "..", "..", "bench-results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  await Bun.write(file, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`results written to ${file}`);
  return results.some((r) => r.error) ? 1 : 0;
}

process.exit(await main());
