// `npm run build:ui` (bun scripts/build-ui.ts [--if-stale]): bundles the web UI (src/ui, Preact +
// TSX) into src/ui-dist/ (generated, gitignored):
//   assets/main-<hash>.js, main-<hash>.css   the page (first load)
//   assets/layout-worker-<hash>.js           dagre, in a Web Worker, loaded when a DAG is drawn
//   manifest.ts                              imports each asset `with { type: "file" }`, so
//                                            `bun build --compile` (scripts/build.ts) embeds them
// The api loads the manifest at start (src/api/ui-assets.ts); without it `/` says how to build.
// `npm start` and the UI tests run this with --if-stale: it rebuilds only when a file under
// src/ui changed (a hash of their contents is kept in the manifest), about 0.3 s otherwise.
//
// First-load budget (issue 12): main JS + CSS ≤ 80 KB gzipped; the build fails above it.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";

export const UI_SRC = resolve(import.meta.dir, "../src/ui");
export const UI_OUT = resolve(import.meta.dir, "../src/ui-dist");
export const FIRST_LOAD_BUDGET_GZ = 80 * 1024;

export interface UiBuild {
  /** false: the existing build already matched the sources. */
  built: boolean;
  sourceHash: string;
  /** gzipped bytes of what the first page load fetches (main JS + CSS). */
  firstLoadGzBytes: number;
  files: string[];
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

/** A hash of every file under src/ui (names and contents) plus the bundler's version. */
export function uiSourceHash(): string {
  const h = createHash("sha256");
  h.update(Bun.version);
  for (const f of listFiles(UI_SRC)) {
    h.update(relative(UI_SRC, f));
    h.update("\0");
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

function builtHash(): string | null {
  const manifest = join(UI_OUT, "manifest.ts");
  if (!existsSync(manifest)) return null;
  return /sourceHash = "([0-9a-f]+)"/.exec(readFileSync(manifest, "utf8"))?.[1] ?? null;
}

async function bundle(entry: string, outdir: string, define: Record<string, string>): Promise<string[]> {
  const result = await Bun.build({
    entrypoints: [entry],
    outdir,
    target: "browser",
    format: "esm",
    minify: true,
    naming: { entry: "[name]-[hash].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": '"production"', ...define },
    throw: false,
  });
  if (!result.success) throw new Error(`building ${relative(UI_SRC, entry)} failed:\n${result.logs.map(String).join("\n")}`);
  return result.outputs.map((o) => basename(o.path));
}

function indexHtml(js: string, css: string[]): string {
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    "<title>porpoise</title>",
    ...css.map((c) => `<link rel="stylesheet" href="/assets/${c}">`),
    `<script type="module" src="/assets/${js}"></script>`,
    "</head>",
    '<body><div id="app"></div></body>',
    "</html>",
    "",
  ].join("\n");
}

export async function buildUi(opts: { ifStale?: boolean } = {}): Promise<UiBuild> {
  const sourceHash = uiSourceHash();
  if (opts.ifStale && builtHash() === sourceHash) {
    const manifest = readFileSync(join(UI_OUT, "manifest.ts"), "utf8");
    const gz = Number(/firstLoadGzBytes = (\d+)/.exec(manifest)?.[1] ?? 0);
    return { built: false, sourceHash, firstLoadGzBytes: gz, files: readdirSync(join(UI_OUT, "assets")) };
  }
  // Built beside the old one and swapped in by a rename: a server or a test file building at the
  // same time never sees half a build.
  const tmp = `${UI_OUT}.tmp-${process.pid}-${Date.now()}`;
  const assets = join(tmp, "assets");
  mkdirSync(assets, { recursive: true });
  try {
    const [worker] = await bundle(join(UI_SRC, "layout-worker.ts"), assets, {});
    const main = await bundle(join(UI_SRC, "main.tsx"), assets, { __LAYOUT_WORKER_URL__: JSON.stringify(`/assets/${worker}`) });
    const js = main.find((f) => f.startsWith("main-") && f.endsWith(".js"));
    if (!js || !worker) throw new Error(`build-ui: expected main-*.js and layout-worker-*.js, got ${[...main, worker].join(", ")}`);
    const css = main.filter((f) => f.endsWith(".css"));
    const files = [worker, ...main];
    const firstLoadGzBytes = [js, ...css].reduce((n, f) => n + gzipSync(readFileSync(join(assets, f))).length, 0);
    if (firstLoadGzBytes > FIRST_LOAD_BUDGET_GZ) {
      throw new Error(`build-ui: first-load JS + CSS is ${firstLoadGzBytes} bytes gzipped, over the ${FIRST_LOAD_BUDGET_GZ} budget (issue 12)`);
    }
    const lines = [
      "// @ts-nocheck -- the asset imports have no types; ui-assets.ts checks this module's shape with zod.",
      "// Generated by scripts/build-ui.ts: do not edit. Each asset is imported as a file so that",
      "// `bun build --compile` embeds it; src/api/ui-assets.ts reads this module.",
      ...files.map((f, i) => `import f${i} from "./assets/${f}" with { type: "file" };`),
      `export const sourceHash = "${sourceHash}";`,
      `export const firstLoadGzBytes = ${firstLoadGzBytes};`,
      `export const indexHtml = ${JSON.stringify(indexHtml(js, css))};`,
      `export const assets: Record<string, string> = {`,
      ...files.map((f, i) => `  ${JSON.stringify(`/assets/${f}`)}: f${i},`),
      "};",
      "",
    ];
    writeFileSync(join(tmp, "manifest.ts"), lines.join("\n"));
    rmSync(UI_OUT, { recursive: true, force: true });
    try {
      renameSync(tmp, UI_OUT);
    } catch (err) {
      // Another build finished first; it built the same sources if the hashes agree.
      if (builtHash() !== sourceHash) throw err;
    }
    return { built: true, sourceHash, firstLoadGzBytes, files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  try {
    const r = await buildUi({ ifStale: Bun.argv.includes("--if-stale") });
    console.log(
      `${r.built ? "built" : "up to date:"} ${relative(process.cwd(), UI_OUT)} (${r.files.length} assets, first load ${(r.firstLoadGzBytes / 1024).toFixed(1)} KB gzipped)`,
    );
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
