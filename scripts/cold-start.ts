// Cold start of `porpoise all` to the first 200 from /readyz (DESIGN.md §6 target: ≤ 150 ms),
// each run on a fresh data directory, so it includes creating the SQLite file, applying the
// migrations and creating the admin user.
//   bun scripts/cold-start.ts [--runs N] [--restart] [COMMAND...]
// COMMAND defaults to dist/porpoise-linux-x64 (build it with `npm run build -- --target x64`);
// `bun src/main.ts` measures the source. --restart measures a second start on the same data
// directory (migrations already applied) instead. scripts/bench/footprint.ts calls coldStarts().

import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

function freePort(): number {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

async function startOnce(command: string[], dataDir: string): Promise<number> {
  const port = freePort();
  const started = performance.now();
  const proc = Bun.spawn([...command, "all", "--port", String(port), "--data-dir", dataDir], {
    cwd: process.cwd(),
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`porpoise exited with ${proc.exitCode} before it was ready`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (res.status === 200) return performance.now() - started;
      } catch {}
      await Bun.sleep(1);
    }
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

/** Milliseconds from spawn to the first /readyz 200, one per run, each on a fresh data directory. */
export async function coldStarts(command: string[], runs: number, restart = false): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), "porpoise-cold-"));
    // As root, task users must pass through to the work dir, a sibling of the data dir.
    chmodSync(dir, 0o711);
    try {
      if (restart) await startOnce(command, join(dir, "data"));
      times.push(await startOnce(command, join(dir, "data")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return times;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Bun.argv.slice(2),
    options: { runs: { type: "string", default: "15" }, restart: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  const command = positionals.length > 0 ? positionals : [resolve(import.meta.dir, "../dist/porpoise-linux-x64")];
  const runs = Number(values.runs);
  const times = (await coldStarts(command, runs, values.restart)).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(0);
  console.log(
    `${command.join(" ")} all${values.restart ? " (restart)" : " (fresh data dir)"}: cold start to /readyz 200 over ${runs} runs: ` +
      `min ${at(0)} ms, median ${at(0.5)} ms, max ${at(1)} ms`,
  );
}
