// The compiled executable, built here with the same code as `npm run build`, copied alone into
// an empty directory and run from there: it must migrate, answer /readyz, write the admin token
// 0600 and stop cleanly on SIGTERM, with nothing read from the source tree.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { buildExecutable } from "../../scripts/build.ts";
import { freshDatabaseUrl } from "../helpers/stores.ts";
import { cleanEnv, run, spawn, waitForStatus } from "./cli-process.ts";

const REPO = resolve(import.meta.dir, "../..");
const READY = /porpoise all ready on (http:\/\/127\.0\.0\.1:\d+) \((sqlite|postgres): ([^)]+)\)/;

const buildDir = mkdtempSync(join(tmpdir(), "porpoise-build-"));
const runDir = mkdtempSync(join(tmpdir(), "porpoise-bin-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(runDir, 0o711);
const binary = join(runDir, "porpoise");

beforeAll(async () => {
  const built = await buildExecutable("x64", buildDir);
  // Alone: no .map, no node_modules, no migrations folder next to it.
  copyFileSync(built.path, binary);
  chmodSync(binary, 0o755);
  expect(readdirSync(runDir)).toEqual(["porpoise"]);
}, 180_000);

afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
  rmSync(runDir, { recursive: true, force: true });
});

/**
 * Runs `cmd` in a private mount namespace with the repository hidden under an empty tmpfs,
 * when this machine allows it (root with CAP_SYS_ADMIN); null otherwise. `exec` keeps the pid,
 * so signals reach porpoise itself.
 */
const hiding = await (async () => {
  if (process.platform !== "linux" || runDir.startsWith(REPO)) return null;
  const wrap = (cmd: string[]) => ["unshare", "--mount", "--", "sh", "-c", `mount -t tmpfs none "$0" && exec "$@"`, REPO, ...cmd];
  try {
    const probe = await run(wrap(["ls", "-A", REPO]), { env: cleanEnv() });
    return probe.code === 0 && probe.stdout === "" ? wrap : null;
  } catch {
    return null;
  }
})();

/** The web UI is inside the executable: index.html for a client route, then the script it names. */
async function expectUiServed(url: string): Promise<void> {
  const page = await fetch(`${url}/projects/x`);
  expect(page.status).toBe(200);
  const js = /src="(\/assets\/main-[a-z0-9]+\.js)"/.exec(await page.text())?.[1];
  expect(js).toBeDefined();
  const asset = await fetch(`${url}${js}`);
  expect(asset.status).toBe(200);
  expect((await asset.text()).length).toBeGreaterThan(1000);
}

describe("compiled binary, copied alone to another directory", () => {
  test("version and help work", async () => {
    expect((await run([binary, "version"], { cwd: runDir })).stdout).toBe(`porpoise ${pkg.version}\n`);
    const help = await run([binary, "all", "--help"], { cwd: runDir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--data-dir DIR");
  });

  test("all on SQLite: migrates, answers /readyz, writes admin-token 0600, exits 0 on SIGTERM", async () => {
    const dataDir = join(runDir, "data");
    await using p = spawn([binary, "all", "--port", "0", "--data-dir", dataDir], { cwd: runDir, env: cleanEnv() });
    const [, url, dialect, where] = await p.waitFor(READY);
    expect([dialect, where]).toEqual(["sqlite", join(dataDir, "porpoise.db")]);
    expect(p.stderr()).toMatch(/applied migration .*migration=0001_/);
    const ready = await waitForStatus(`${url}/readyz`, 200);
    expect(await ready.json()).toMatchObject({ version: pkg.version });
    await expectUiServed(url as string);
    // No terminal attached: the token is in the file only, never in the output.
    expect(statSync(join(dataDir, "admin-token")).mode & 0o777).toBe(0o600);
    const token = (await Bun.file(join(dataDir, "admin-token")).text()).trim();
    expect(token).toMatch(/^pp_/);
    expect(p.stdout() + p.stderr()).not.toContain(token);
    p.signal("SIGTERM");
    expect(await p.exit(15_000)).toBe(0);
    expect(p.stderr()).toContain("stopped");
  });

  // Where the repository cannot be hidden (no unshare --mount), this shows as skipped, by name.
  test.skipIf(hiding === null)("with the source tree hidden by a mount namespace: nothing is read from it at run time", async () => {
    if (hiding === null) return;
    const dataDir = join(runDir, "hidden-data");
    mkdirSync(dataDir);
    await using p = spawn(hiding([binary, "all", "--port", "0", "--data-dir", dataDir]), { cwd: runDir, env: cleanEnv() });
    const [, url] = await p.waitFor(READY);
    await waitForStatus(`${url}/readyz`, 200);
    await expectUiServed(url as string);
    p.signal("SIGTERM");
    expect(await p.exit(15_000)).toBe(0);
    const migrate = await run(hiding([binary, "migrate", "--data-dir", join(runDir, "hidden-migrate")]), { cwd: runDir, env: cleanEnv() });
    expect(migrate.stdout).toMatch(/^applied 0001_/m);
    expect(migrate.code).toBe(0);
  });

  test("all on Postgres", async () => {
    await using db = await freshDatabaseUrl("postgres");
    await using p = spawn([binary, "all", "--port", "0", "--data-dir", join(runDir, "pg-data")], {
      cwd: runDir,
      env: cleanEnv({ PORPOISE_DB: db.url }),
    });
    const [, url, dialect] = await p.waitFor(READY);
    expect(dialect).toBe("postgres");
    await waitForStatus(`${url}/readyz`, 200);
    p.signal("SIGTERM");
    expect(await p.exit(15_000)).toBe(0);
  });
});
