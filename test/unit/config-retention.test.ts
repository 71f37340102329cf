// Retention settings (issue 11): flags, PORPOISE_* env and the config file like every setting;
// 0 turns an age or count rule off; bad values are refused naming the setting and what it takes.

import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

function resolve(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return resolveConfig({ argv, env, cwd: "/srv", cpuCount: 2, readFile: (p) => files[p] ?? (() => { throw new Error(`ENOENT ${p}`); })() });
}
const retention = (argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) => {
  const inv = resolve(argv, env, files);
  if (!("config" in inv)) throw new Error("no config");
  return inv.config.retention;
};
const refusal = (argv: string[], env: Record<string, string> = {}): ConfigError => {
  try {
    resolve(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
};

describe("retention settings", () => {
  test("defaults: 30 days, no count limit, a sweep every 10 minutes, work dirs 7 days", () => {
    expect(retention(["all"])).toEqual({ maxAgeMs: 30 * 86_400_000, keepPerWorkflow: null, intervalMs: 600_000, workDirMaxAgeMs: 7 * 86_400_000 });
  });

  test("flags, env and the config file set them, flags first; 0 turns a rule off", () => {
    expect(retention(["all", "--retention-age", "90d", "--retention-count", "500", "--retention-interval", "1m", "--work-dir-retention", "12h"])).toEqual({
      maxAgeMs: 90 * 86_400_000,
      keepPerWorkflow: 500,
      intervalMs: 60_000,
      workDirMaxAgeMs: 12 * 3_600_000,
    });
    expect(retention(["all"], { PORPOISE_RETENTION_AGE: "0", PORPOISE_RETENTION_COUNT: "10" })).toMatchObject({ maxAgeMs: null, keepPerWorkflow: 10 });
    const files = { "/srv/p.yaml": "retentionAge: 7d\nretentionCount: 3\nworkDirRetention: 0\n" };
    expect(retention(["all", "--config", "p.yaml", "--retention-count", "4"], {}, files)).toMatchObject({ maxAgeMs: 7 * 86_400_000, keepPerWorkflow: 4, workDirMaxAgeMs: null });
    // Masters sweep rows, workers files: each takes its own.
    const cluster = ["--db", "postgres://u@h/p", "--redis", "redis://r:6379", "--secret", "0123456789abcdef"];
    expect(retention(["master", ...cluster, "--retention-age", "1d"]).maxAgeMs).toBe(86_400_000);
    expect(retention(["worker", ...cluster, "--work-dir-retention", "1h"]).workDirMaxAgeMs).toBe(3_600_000);
    expect(refusal(["api", ...cluster, "--retention-age", "1d"]).message).toContain("--retention-age is not a flag of porpoise api (it is used by porpoise all, porpoise master)");
  });

  test("bad values are refused naming the setting, where it came from and what is expected", () => {
    const age = refusal(["all", "--retention-age", "forever"]);
    expect(age.message).toContain('retentionAge = "forever" (from --retention-age): expected a duration up to 3650d');
    expect(age.details.map((d) => d.path)).toEqual(["retentionAge"]);
    expect(refusal(["all"], { PORPOISE_RETENTION_COUNT: "-1" }).message).toContain('retentionCount = "-1" (from PORPOISE_RETENTION_COUNT): expected an integer between 0 and 1000000000');
    expect(refusal(["all", "--retention-interval", "0"]).message).toContain("retentionInterval = \"0\" (from --retention-interval): expected a duration from 1s to 1d");
    expect(refusal(["all", "--work-dir-retention", "-5m"]).message).toContain("workDirRetention");
  });
});
