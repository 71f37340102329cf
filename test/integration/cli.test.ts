// The command line as a user meets it: real `bun src/main.ts` processes, their output and exit codes.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { envName, flagName, modeKeys } from "../../src/config/settings.ts";
import { freshDatabaseUrl, testPostgresUrl, testRedisUrl } from "../helpers/stores.ts";
import { cleanEnv, fromSource, run } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-cli-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const porpoise = (args: string[], env: Record<string, string> = {}) => run(fromSource(args), { cwd: tmp, env: cleanEnv(env) });
const SECRET = "cli-test-cluster-secret";

describe("help and version", () => {
  test("porpoise --help lists every command and exits 0", async () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const r = await porpoise(args);
      expect(r.code).toBe(0);
      for (const c of ["all", "api", "master", "worker", "migrate", "version"]) expect(r.stdout).toMatch(new RegExp(`^  ${c} +\\S`, "m"));
      expect(r.stdout).toContain("Exit codes: 0 ok, 1 runtime failure, 2 bad input or configuration");
      expect(r.stderr).toBe("");
    }
  });

  test("porpoise with no command prints the help to stderr and exits 2", async () => {
    const r = await porpoise([]);
    expect(r.code).toBe(2);
    // Run from a checkout: the usage names the command that works there (package.json's bin).
    expect(r.stderr).toContain("Usage: npx porpoise <command> [flags]");
    expect(r.stdout).toBe("");
  });

  for (const mode of ["all", "api", "master", "worker", "migrate"] as const) {
    test(`porpoise ${mode} --help shows every flag of ${mode} with its env var, and an example`, async () => {
      const r = await porpoise([mode, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`porpoise ${mode} — `);
      for (const key of modeKeys[mode]) expect(r.stdout).toMatch(new RegExp(`^  ${flagName(key)} \\S+ +${envName(key)}\\b`, "m"));
      expect(r.stdout).toContain("--config FILE");
      expect(r.stdout).toMatch(/Example:\n  npx porpoise /);
      // Flags that belong to other modes are not offered.
      if (mode !== "worker") expect(r.stdout).not.toContain("--gateway");
    });
  }

  test("porpoise help worker equals porpoise worker --help", async () => {
    expect((await porpoise(["help", "worker"])).stdout).toBe((await porpoise(["worker", "--help"])).stdout);
  });

  test("version prints the package version", async () => {
    for (const args of [["version"], ["--version"]]) {
      const r = await porpoise(args);
      expect(r).toEqual({ code: 0, stdout: `porpoise ${pkg.version}\n`, stderr: "" });
    }
  });
});

describe("bad input exits 2 with a message that says what to do", () => {
  test("unknown command", async () => {
    const r = await porpoise(["strat"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('porpoise: unknown command "strat"');
  });

  test("unknown flag", async () => {
    const r = await porpoise(["all", "--prot", "8080"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith("porpoise: unknown flag --prot (did you mean --port?)\nFlags of porpoise all: --host, --port");
    expect(r.stdout).toBe("");
  });

  test("flag of another mode", async () => {
    const r = await porpoise(["api", "--gateway", "https://x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith("porpoise: --gateway is not a flag of porpoise api (it is used by porpoise worker)");
  });

  test("bad value from a flag and from the environment", async () => {
    const flag = await porpoise(["all", "--port", "abc"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe('porpoise: invalid configuration: port = "abc" (from --port): expected an integer between 0 and 65535\n');
    const env = await porpoise(["all"], { PORPOISE_LOG_FORMAT: "xml" });
    expect(env.code).toBe(2);
    expect(env.stderr).toBe('porpoise: invalid configuration: logFormat = "xml" (from PORPOISE_LOG_FORMAT): expected text or json\n');
  });

  test("bad config file", async () => {
    const path = join(tmp, "bad.yaml");
    await Bun.write(path, "port: 8080\nadminTokn: x\n");
    const r = await porpoise(["all", "--config", path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`porpoise: unknown key "adminTokn" in config file ${path} (did you mean "adminToken"?)`);
  });

  test("api and master on SQLite, or without --secret, refuse to start and say what to pass", async () => {
    for (const mode of ["api", "master"]) {
      const sqlite = await porpoise([mode, "--redis", testRedisUrl(), "--secret", SECRET]);
      expect(sqlite.code).toBe(2);
      expect(sqlite.stderr).toBe(`porpoise ${mode} needs a Postgres store: pass --db postgres://user@host:5432/porpoise (or PORPOISE_DB)\n`);
      const noSecret = await porpoise([mode, "--db", testPostgresUrl(), "--redis", testRedisUrl()]);
      expect(noSecret.code).toBe(2);
      expect(noSecret.stderr).toBe(
        `porpoise ${mode} needs the shared cluster secret: pass --secret <at least 16 characters> (or PORPOISE_SECRET), the same value on every node\n`,
      );
    }
  });

  test("worker without Redis or gateway", async () => {
    const r = await porpoise(["worker"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("porpoise worker needs a way to receive tasks: pass --redis");
  });
});

describe("what is not available in this release exits 3 after validating, and says so", () => {
  test("all --redis on SQLite: nothing is shared between nodes but Postgres, so it is refused before anything is created", async () => {
    const r = await porpoise(["all", "--redis", testRedisUrl(), "--data-dir", join(tmp, "never")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("porpoise all --redis needs a Postgres store");
    expect(await Bun.file(join(tmp, "never", "porpoise.db")).exists()).toBe(false);
  });
});

describe("migrate", () => {
  test("SQLite: applies the migrations once, then reports nothing to do", async () => {
    const dataDir = join(tmp, "migrate-data");
    const first = await porpoise(["migrate", "--data-dir", dataDir]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^applied 0001_\w+\.sql$/m);
    expect(first.stdout).toContain(`sqlite: ${dataDir}/porpoise.db: `);
    const second = await porpoise(["migrate"], { PORPOISE_DATA_DIR: dataDir });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`sqlite: ${dataDir}/porpoise.db: up to date, no migrations to apply\n`);
  });

  test("Postgres: applies to an empty database", async () => {
    await using db = await freshDatabaseUrl("postgres");
    const r = await porpoise(["migrate", "--db", db.url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^applied 0001_\w+\.sql$/m);
    const again = await porpoise(["migrate", "--db", db.url]);
    expect(again.stdout).toContain("up to date");
  });

  test("an unreachable database is a runtime failure: exit 1 naming it", async () => {
    const r = await porpoise(["migrate", "--db", "postgres://nobody@127.0.0.1:1/none"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("127.0.0.1:1");
  });
});
