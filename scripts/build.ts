// `npm run build`: standalone executables with `bun build --compile`.
//   dist/porpoise-linux-x64, dist/porpoise-linux-arm64             glibc (Debian, Ubuntu, Raspberry Pi OS)
//   dist/porpoise-linux-x64-baseline                               glibc, x64 CPUs without AVX2 (older Atoms, Celerons, some VMs)
//   dist/porpoise-linux-x64-musl, dist/porpoise-linux-arm64-musl   musl (Alpine, OpenWrt-style images)
// Bun 1.4 has no 32-bit ARM or RISC-V target. README "Edge workers" says which to pick.
// Options: --target x64|arm64|x64-baseline|x64-musl|arm64-musl (repeatable; default all five), --outdir DIR (default dist).
// Cross-compiling fetches the target's Bun runtime from the npm registry once (cached).
//
// Everything the program needs at run time is inside the executable: migrations are imported
// as text (src/store/migrations.ts), the version as JSON (src/version.ts), the web UI's assets
// as files (src/ui-dist/manifest.ts, built first by scripts/build-ui.ts). The executable does
// not load .env or bunfig.toml from the directory it is started in: its configuration is flags,
// PORPOISE_* variables and --config, nothing else.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildUi } from "./build-ui.ts";

const targets = {
  x64: "bun-linux-x64",
  arm64: "bun-linux-arm64",
  "x64-baseline": "bun-linux-x64-baseline",
  "x64-musl": "bun-linux-x64-musl",
  "arm64-musl": "bun-linux-arm64-musl",
} as const;
export type Arch = keyof typeof targets;

// Idle RSS, VmRSS 5 s after "ready", medians of 3 runs of 1 api + 1 master + 1 worker on
// Postgres + Redis (MB = 10^6 bytes; 2 shared cores):      master  worker   api
//   one bundle (before)                                      70.8    67.6    71.2
//   + splitting                                              68.8    65.5    68.5
//   + STARTUP_JIT_POLICY                                     64.3    59.8    61.6
//   + bytecode order                                         62.6    57.7    58.4
// `porpoise all` on SQLite: 73.7 → 60.0. What is left is mostly pages of the executable itself:
// an idle worker's 57.7 MB are 43.9 MB file-backed (Bun's runtime code it runs, and the program)
// and 13.8 MB anonymous; the compiled empty program is 30.1 MB, 27.9 of them file-backed.

/**
 * JavaScriptCore's tier-up thresholds are this many times higher until src/main.ts sets the
 * normal policy, once the mode has started: start-up code runs once, and compiling it only
 * brought the JIT compilers' pages and machine code into processes that then sit idle
 * (2–7 MB per node, figures above). With no JIT at all (BUN_JSC_useJIT=0) the nodes idled at
 * 56.5 / 56.6 / 58.3 MB, but the hot paths need it.
 */
export const STARTUP_JIT_POLICY = 1000;

/**
 * Profiles of which functions each mode runs while it starts (scripts/record-bytecode-order.ts),
 * most common start first: the executable keeps their bytecode together, so a process reads and
 * decodes less of itself. A profile recorded on an older build still applies to what is unchanged;
 * a missing one only costs memory.
 */
export const BYTECODE_ORDER_DIR = resolve(import.meta.dir, "bytecode-order");
export const BYTECODE_ORDER_MODES = ["worker", "master", "api", "all"] as const;

function bytecodeOrderFiles(): string[] {
  return BYTECODE_ORDER_MODES.map((m) => join(BYTECODE_ORDER_DIR, `${m}.order`)).filter((f) => existsSync(f));
}

function bytecodeOrder(): string[] | null {
  const files = bytecodeOrderFiles();
  return files.length > 0 ? files : null;
}

export interface BuiltExecutable {
  arch: Arch;
  path: string;
  bytes: number;
  seconds: number;
}

export async function buildExecutable(arch: Arch, outdir: string): Promise<BuiltExecutable> {
  const root = resolve(import.meta.dir, "..");
  const outfile = join(outdir, `porpoise-linux-${arch}`);
  // src/api/ui-assets.ts imports the UI's manifest, which imports every asset as a file: the
  // compiled executable carries them (about 0.1 MB).
  await buildUi({ ifStale: true });
  mkdirSync(outdir, { recursive: true });
  const started = performance.now();
  let result: Bun.BuildOutput;
  try {
    result = await Bun.build({
      entrypoints: [join(root, "src/main.ts")],
      // ESM because main.ts awaits at top level; bytecode needs the format stated.
      format: "esm",
      // Each mode's code in its own chunks inside the executable, loaded by main.ts's `import()`
      // when that mode starts: a worker process reads and decodes the bytecode of the worker's
      // code, not the api's routes nor the master's engine.
      splitting: true,
      minify: true,
      // Embedded in the executable (about +0.9 MB) so stack traces name source lines; the
      // .map written next to it is a spare copy.
      sourcemap: "linked",
      // Precompiled bytecode skips parsing at start-up. Measured here (2 cores, shared):
      // cold start to /readyz median 145 ms with it vs 179 ms without; +4.3 MB.
      bytecode: true,
      compile: {
        target: targets[arch],
        outfile,
        autoloadDotenv: false,
        autoloadBunfig: false,
        jitPolicy: STARTUP_JIT_POLICY,
        bytecodeOrder: bytecodeOrder(),
      },
    });
  } catch (err) {
    const logs = (err as AggregateError).errors ?? [err];
    throw new Error(`build for ${arch} failed:\n${logs.map((l) => String(l)).join("\n")}`);
  }
  if (!result.success) {
    throw new Error(`build for ${arch} failed:\n${result.logs.map((l) => String(l)).join("\n")}`);
  }
  return { arch, path: outfile, bytes: statSync(outfile).size, seconds: (performance.now() - started) / 1000 };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { target: { type: "string", multiple: true }, outdir: { type: "string" } },
    strict: true,
  });
  const wanted = (values.target ?? Object.keys(targets)) as string[];
  for (const t of wanted) {
    if (!(t in targets)) {
      console.error(`build: unknown --target ${t}; expected one of ${Object.keys(targets).join(", ")}`);
      process.exit(2);
    }
  }
  const outdir = resolve(values.outdir ?? join(import.meta.dir, "..", "dist"));
  // Spare source maps of the chunks of earlier builds (their names carry a content hash).
  if (existsSync(outdir)) for (const f of readdirSync(outdir)) if (/^chunk-.*\.js\.map$/.test(f)) rmSync(join(outdir, f));
  for (const arch of wanted as Arch[]) {
    try {
      const built = await buildExecutable(arch, outdir);
      console.log(`${built.path}  ${mib(built.bytes)}  (${built.seconds.toFixed(1)}s)`);
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
  }
}
