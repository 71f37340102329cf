// Next-fire computation: what the scheduler pays to (re)arm its timer structure. For a set
// of typical DolphinScheduler expressions, compiled once, fires/s of `nextAfter` walking
// forward fire by fire, in UTC and in Europe/Berlin (Intl offsets, memoised per second);
// plus the 10,000-schedule cold start: compile 10,000 expressions and compute each one's
// first fire.
//
// Also runnable alone: `bun scripts/bench/cron-next.ts [smoke|full]`.

import { compileCron, type CompiledCron } from "../../src/core/cron/index.ts";
import { seededRandom, timeRuns, type BenchRow, type BenchSize } from "./bench-types.ts";

export const name = "cron-next";

const TYPICAL = [
  "0 0 2 * * ?", // daily
  "0 0/15 * * * ?", // every 15 minutes
  "0 0 3/6 * * ? *", // every 6 hours from 03:00
  "0 30 9 ? * MON-FRI", // weekdays
  "0 0 1 L * ?", // month end
  "0 0 1 L-2 * ?", // third-to-last day (own filter around croner)
  "0 0 10 ? * 6#3", // third Friday
  "0 0 6 15W * ?", // nearest weekday
  "15 3 * * *", // Unix form
];

function walk(cron: CompiledCron, timezone: string, fires: number): void {
  let at = new Date("2026-01-01T00:00:00Z");
  for (let i = 0; i < fires; i++) at = cron.nextAfter(at, timezone)!;
}

function randomExpression(random: () => number): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const minute = Math.floor(random() * 60);
  const hour = Math.floor(random() * 24);
  return pick([
    `0 ${minute} ${hour} * * ?`,
    `0 ${minute} * * * ?`,
    `0 0/${pick([5, 10, 15, 30])} * * * ?`,
    `0 ${minute} ${hour} ? * MON-FRI`,
    `0 ${minute} ${hour} L * ?`,
    `0 ${minute} ${hour} ? * ${1 + Math.floor(random() * 7)}#${1 + Math.floor(random() * 4)}`,
  ]);
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const fires = full ? 2_000 : 50;
  const runs = full ? 10 : 2;
  const rows: BenchRow[] = [];
  for (const timezone of ["UTC", "Europe/Berlin"]) {
    for (const expr of TYPICAL) {
      const cron = compileCron(expr);
      const samples = timeRuns(() => walk(cron, timezone, fires), runs, 1);
      rows.push({ scenario: name, metric: `${timezone} "${expr}": next fires/s`, unit: "fires/s", samples: samples.map((ms) => (fires * 1000) / ms) });
    }
  }
  const schedules = full ? 10_000 : 200;
  const random = seededRandom(4);
  const exprs = Array.from({ length: schedules }, () => randomExpression(random));
  const now = new Date("2026-06-15T12:34:56Z");
  const cold = timeRuns(() => {
    for (const expr of exprs) compileCron(expr).nextAfter(now, "Europe/Berlin");
  }, full ? 5 : 1, 1);
  rows.push({ scenario: name, metric: `${schedules} schedules: compile + first fire (Europe/Berlin)`, unit: "ms", samples: cold });
  const compiled = exprs.map((expr) => compileCron(expr));
  const warm = timeRuns(() => {
    for (const cron of compiled) cron.nextAfter(now, "Europe/Berlin");
  }, full ? 5 : 1, 1);
  rows.push({ scenario: name, metric: `${schedules} schedules: next fire of each, compiled (Europe/Berlin)`, unit: "ms", samples: warm });
  return rows;
}

export default { name, run };

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
