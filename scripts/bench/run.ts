// `npm run bench` — runs the benchmark scenarios, prints a markdown table and writes the
// results to bench-results/<timestamp>.json (git-ignored).
//
//   bun scripts/bench/run.ts                 all scenarios, full size
//   bun scripts/bench/run.ts --smoke         tiny sizes: checks every scenario still runs
//   bun scripts/bench/run.ts --only a,b      just these (repeatable)
//   bun scripts/bench/run.ts --list          names only
//
// A scenario is any module in this folder or in peers/ exporting `name` and `run({ size })`
// (see bench-types.ts); adding a file is all it takes. Scenarios run one after another in
// file-name order (porpoise's first, then peers/), in this process, so each gets the machine
// to itself. Rows that carry `system` and `shape` also fill the side-by-side table
// (compare.ts): porpoise on SQLite and Postgres next to BullMQ and graphile-worker.
//
// Exit code: 1 when a porpoise scenario failed. A peer that fails (not installed, its module
// throws) is reported with its error and shows "–" in the table; the run goes on and exits 0.

import { mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { summarize, type BenchRow, type BenchScenario, type BenchSize, type BenchSummary } from "./bench-types.ts";
import { comparisonLines, comparisonMarkdown, fmt } from "./compare.ts";

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

interface Discovered extends BenchScenario {
  peer: boolean;
}

/** A module that cannot even be imported (a peer whose package is missing, say). */
interface Broken {
  file: string;
  peer: boolean;
  error: string;
}

async function discover(): Promise<{ scenarios: Discovered[]; broken: Broken[] }> {
  const files = [
    ...[...new Bun.Glob("*.ts").scanSync({ cwd: import.meta.dir })].filter((f) => f !== "run.ts").sort(),
    ...[...new Bun.Glob("peers/*.ts").scanSync({ cwd: import.meta.dir })].sort(),
  ];
  const scenarios: Discovered[] = [];
  const broken: Broken[] = [];
  for (const file of files) {
    const peer = file.startsWith("peers/");
    // Only modules that declare a scenario are imported: importing runs a module's top level, and a
    // helper script with work at its top level hung the smoke run (it waited for runs never made).
    if (!/^export const name\b|^export default\b/m.test(await Bun.file(join(import.meta.dir, file)).text())) continue;
    try {
      const scenario = asScenario(await import(join(import.meta.dir, file)));
      if (scenario) scenarios.push({ name: scenario.name, run: (o) => scenario.run(o), peer });
    } catch (error) {
      broken.push({ file, peer, error: String((error as Error)?.stack ?? error) });
    }
  }
  return { scenarios, broken };
}

function markdown(summaries: BenchSummary[]): string {
  const lines = ["| scenario | system | metric | median | p95 | p99 | runs | note |", "|---|---|---|--:|--:|--:|--:|---|"];
  for (const s of summaries) {
    const unit = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "–" : `${fmt(v)} ${s.unit}`);
    lines.push(`| ${s.scenario} | ${s.system ?? ""} | ${s.metric} | ${unit(s.median)} | ${unit(s.p95)} | ${unit(s.p99)} | ${s.runs} | ${s.note ?? ""} |`);
  }
  return lines.join("\n");
}

function gitCommit(): string | null {
  const result = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
  return result.success ? result.stdout.toString().trim() : null;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const { scenarios: all, broken } = await discover();
  if (opts.list) {
    for (const s of all) console.log(`${s.name}${s.peer ? " (peer)" : ""}`);
    for (const b of broken) console.log(`${b.file} (cannot be loaded: ${b.error.split("\n")[0]})`);
    return 0;
  }
  for (const b of broken) console.error(`${b.peer ? "peer" : "scenario"} module ${b.file} cannot be loaded:\n${b.error}`);
  const unknown = opts.only.filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0) usage(`unknown scenario ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${all.map((s) => s.name).join(", ")}`);
  const selected = opts.only.length > 0 ? all.filter((s) => opts.only.includes(s.name)) : all;

  const startedAt = new Date();
  const results: { scenario: string; peer: boolean; seconds: number; rows?: (BenchSummary & { samples?: number[] })[]; error?: string }[] = [];
  for (const b of broken) results.push({ scenario: b.file, peer: b.peer, seconds: 0, error: b.error });
  const summaries: BenchSummary[] = [];
  for (const scenario of selected) {
    console.error(`running ${scenario.name} (${opts.size})…`);
    const t0 = performance.now();
    let rows: BenchRow[] = [];
    let error: string | undefined;
    try {
      rows = await scenario.run({ size: opts.size });
    } catch (err) {
      // A scenario that measured part of its work (one dialect failed, say) keeps those rows.
      const partial = (err as { rows?: unknown })?.rows;
      if (Array.isArray(partial)) rows = partial as BenchRow[];
      error = String((err as Error)?.stack ?? err);
      console.error(`${scenario.peer ? "peer" : "scenario"} ${scenario.name} FAILED${scenario.peer ? " (peer: reported, not fatal)" : ""}:\n${error}`);
    }
    const summarized = rows.map((row) => ({ ...summarize(row), ...(row.samples ? { samples: row.samples } : {}) }));
    summaries.push(...summarized.map(({ samples: _samples, ...s }) => s));
    const seconds = (performance.now() - t0) / 1000;
    console.error(`${scenario.name}: ${seconds.toFixed(1)} s`);
    results.push({ scenario: scenario.name, peer: scenario.peer, seconds, rows: summarized, ...(error ? { error } : {}) });
  }

  const comparison = comparisonLines(summaries);
  console.log(markdown(summaries));
  if (comparison.length > 0) console.log(`\n${comparisonMarkdown(comparison)}`);
  const failed = results.filter((r) => r.error);
  if (failed.length > 0) console.log(`\nFailed: ${failed.map((r) => `${r.scenario}${r.peer ? " (peer)" : ""}`).join(", ")} (errors above and in the JSON)`);
  const cpu = cpus();
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    size: opts.size,
    commit: gitCommit(),
    host: { cpus: cpu.length, model: cpu[0]?.model ?? "unknown", platform: process.platform, arch: process.arch, bun: Bun.version },
    results,
    comparison,
  };
  const dir = join(import.meta.dir, "..", "..", "bench-results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  await Bun.write(file, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`results written to ${file}`);
  return results.some((r) => r.error && !r.peer) ? 1 : 0;
}

process.exit(await main());
