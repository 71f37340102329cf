// The settings of how tasks run (issue 9): --work-dir, --task-user, --allow-root-tasks, --task-env-pass.

import { describe, expect, test } from "bun:test";
import { type Config, resolveConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

function config(argv: string[], env: Record<string, string> = {}): Config {
  const inv = resolveConfig({ argv, env, cwd: "/srv", cpuCount: 2, readFile: () => "" });
  if (!("config" in inv)) throw new Error(`expected a mode invocation, got ${inv.command}`);
  return inv.config;
}

function refusal(argv: string[], env: Record<string, string> = {}): string {
  try {
    config(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused`);
}

describe("task settings", () => {
  test("the work dir is a sibling of the data dir unless given", () => {
    expect(config(["all", "--data-dir", "/var/lib/porpoise"]).workDir).toBe("/var/lib/porpoise-work");
    expect(config(["all", "--work-dir", "jobs"]).workDir).toBe("/srv/jobs");
  });

  test("--allow-root-tasks is a switch; an env var or file value is true/false", () => {
    expect(config(["all", "--allow-root-tasks"]).allowRootTasks).toBe(true);
    expect(config(["all", "--allow-root-tasks", "--port", "0"]).allowRootTasks).toBe(true);
    expect(config(["all", "--allow-root-tasks=false"]).allowRootTasks).toBe(false);
    expect(config(["all"], { PORPOISE_ALLOW_ROOT_TASKS: "true" }).allowRootTasks).toBe(true);
    expect(config(["all"]).allowRootTasks).toBe(false);
    expect(refusal(["all", "--allow-root-tasks=maybe"])).toContain("allowRootTasks");
  });

  test("--task-user takes an OS user name", () => {
    expect(config(["worker", "--gateway", "https://a:1", "--token", "0123456789abcdef", "--task-user", "etl"]).taskUser).toBe("etl");
    expect(refusal(["all", "--task-user", "../root"])).toContain("an OS user name");
    expect(refusal(["all", "--task-user=-r"])).toContain("taskUser");
  });

  test("--task-env-pass takes values from porpoise's environment; unset names are left out; PORPOISE_* refused", () => {
    const c = config(["all", "--task-env-pass", "HTTP_PROXY, AWS_REGION,UNSET"], { HTTP_PROXY: "http://proxy:3128", AWS_REGION: "eu-west-1", OTHER: "x" });
    expect(c.taskEnvPass).toEqual({ HTTP_PROXY: "http://proxy:3128", AWS_REGION: "eu-west-1" });
    expect(refusal(["all", "--task-env-pass", "PATH,PORPOISE_ADMIN_TOKEN"], { PORPOISE_ADMIN_TOKEN: "x".repeat(40) })).toContain("none starting with PORPOISE_");
    expect(refusal(["all", "--task-env-pass", "A-B"])).toContain("taskEnvPass");
  });
});
