// Web UI (issue 12): time to first paint, in headless Chromium (/usr/bin/chromium via
// playwright-core), of
//   - the workflow page of a 1,000-task DAG: assets, API reads, dagre in the Web Worker, SVG;
//   - the grid of 200 runs × 100 tasks: the first server page of 100 runs, rows virtualized;
// plus the grid scrolled to its last run and painted (the second page fetched on the way).
// Each sample is a fresh page; the time is from navigation start to the animation frame after
// what is measured is in the DOM (performance.now() in the page). One `porpoise all` on SQLite.
//
// Also runnable alone: `bun scripts/bench/ui-paint.ts [smoke|full]`.

import type { Page } from "playwright-core";
import { buildUi } from "../build-ui.ts";
import { type BenchRow, type BenchSize } from "./bench-types.ts";
import { startPorpoise, type PorpoiseServer } from "./porpoise-server.ts";

export const name = "ui-paint";

const CHROMIUM = "/usr/bin/chromium";

/** A layered DAG: `layers` of `width` noop tasks, each after one or two of the layer before. */
function bigDag(tasks: number) {
  const width = Math.max(1, Math.round(Math.sqrt(tasks)));
  const list = Array.from({ length: tasks }, (_, i) => {
    const layer = Math.floor(i / width);
    const deps = layer === 0 ? [] : [...new Set([(layer - 1) * width + (i % width), (layer - 1) * width + ((i * 7 + 3) % width)])].filter((d) => d < i);
    return { name: `t${String(i).padStart(4, "0")}`, type: "noop", ...(deps.length ? { deps: deps.map((d) => `t${String(d).padStart(4, "0")}`) } : {}) };
  });
  return { name: "big-dag", tasks: list };
}

function fan(tasks: number) {
  return { name: "wide", tasks: [{ name: "start", type: "noop" }, ...Array.from({ length: tasks - 1 }, (_, i) => ({ name: `task-${i + 1}`, type: "noop", deps: ["start"] }))] };
}

// The page's document (the scripts' program has no DOM types). Conditions run in the page, so
// each names it itself: they are sent as source text, without this module's scope.
type Doc = { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> };

/** Waits (each frame) for `condition` in the page, then for the next frame: its time since navigation start. */
async function paintedAt(page: Page, condition: (arg: number) => boolean, arg: number): Promise<number> {
  // A function, not a string: the UI's CSP has no 'unsafe-eval'.
  await page.waitForFunction(condition, arg, { timeout: 120_000, polling: "raf" });
  return page.evaluate("new Promise((r) => requestAnimationFrame(() => r(performance.now())))") as Promise<number>;
}

async function waitForRuns(server: PorpoiseServer, workflow: string, count: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const page = await server.api<{ total: number }>("GET", `/projects/bench/workflow-instances?workflow=${workflow}&state=SUCCESS&limit=1`);
    if (page.total >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${page.total} of ${count} runs of ${workflow} succeeded in 10 minutes`);
    await Bun.sleep(200);
  }
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const dagTasks = full ? 1_000 : 50;
  const gridRuns = full ? 200 : 5;
  const gridTasks = full ? 100 : 10;
  const samples = full ? 5 : 1;
  await buildUi({ ifStale: true });
  const { chromium } = await import("playwright-core");
  await using server = await startPorpoise("sqlite");
  await server.api("POST", "/projects", { name: "bench", description: "benchmarks" });
  await server.api("POST", "/projects/bench/workflows", bigDag(dagTasks));
  await server.api("POST", "/projects/bench/workflows", fan(gridTasks));
  for (let i = 0; i < gridRuns; i++) await server.api("POST", "/projects/bench/workflows/wide/run", {});
  await waitForRuns(server, "wide", gridRuns);
  const { token } = await server.api<{ token: string }>("POST", "/tokens", { name: "ui-bench" });

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"] });
  const dag: number[] = [];
  const layout: number[] = [];
  const grid: number[] = [];
  const scroll: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const ctx = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 800 } });
      await ctx.addInitScript((t: string) => localStorage.setItem("porpoise.token", t), token);
      const page = await ctx.newPage();
      await page.goto("/projects/bench/workflows/big-dag");
      dag.push(await paintedAt(page, (n) => (globalThis as unknown as { document: Doc }).document.querySelectorAll("svg[data-testid=dag] g.node").length === n, dagTasks));
      // The worker's round trip (dag.tsx measures it): layout plus posting the graph both ways.
      layout.push((await page.evaluate(`performance.getEntriesByType("measure").find((m) => m.name.startsWith("dag-layout"))?.duration ?? NaN`)) as number);
      await page.goto("/projects/bench/workflows/wide/grid");
      grid.push(await paintedAt(page, (n) => (globalThis as unknown as { document: Doc }).document.querySelectorAll(".grid-row .cell button").length >= n, gridTasks));
      const t0 = (await page.evaluate("performance.now()")) as number;
      await page.evaluate(`document.querySelector("[data-testid=grid]").scrollTop = 1e9`);
      // The oldest run is the last row: painted once its page arrived.
      const last = await paintedAt(page, () => Array.from((globalThis as unknown as { document: Doc }).document.querySelectorAll(".grid-row a")).some((a) => (a.textContent ?? "").includes("#1 ")), 0);
      scroll.push(last - t0);
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  const note = "headless Chromium, fresh page per sample, porpoise all on SQLite";
  return [
    { scenario: name, metric: `workflow page, DAG of ${dagTasks} tasks: first paint`, unit: "ms", samples: dag, note },
    { scenario: name, metric: `  of which dagre layout in the Web Worker`, unit: "ms", samples: layout, note },
    { scenario: name, metric: `grid ${gridRuns} runs × ${gridTasks} tasks: first paint`, unit: "ms", samples: grid, note },
    { scenario: name, metric: `grid: scroll to the oldest run, painted`, unit: "ms", samples: scroll, note: "includes fetching its server page" },
  ];
}

if (import.meta.main) {
  const size = (process.argv[2] ?? "smoke") as BenchSize;
  for (const row of await run({ size })) console.log(row.metric, row.samples?.map((s) => s.toFixed(0)).join(" "), row.unit);
}
