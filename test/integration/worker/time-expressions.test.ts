// `$[...]` written directly in task text, expanded by the worker after `${}` substitution on the
// attempt's clock: shell (script and env), and sql (after the values are bound), with real
// processes and a real Postgres database.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runAttempt, type RunAttemptOptions } from "../../../src/worker/executor.ts";
import { taskLogPath } from "../../../src/worker/task-log.ts";
import { freshDatabaseUrl } from "../../helpers/stores.ts";
import { taskOf, tempDir, testEnv } from "./worker-helpers.ts";

const dir = tempDir("time-expr");
afterAll(() => dir[Symbol.dispose]());
const clock = { baseTime: new Date("2024-03-01T23:30:00Z"), timezone: "Asia/Tokyo" }; // 2024-03-02 08:30 in Tokyo

let attempt = 0;
async function run(task: Record<string, unknown>, extra: Partial<RunAttemptOptions> = {}) {
  attempt++;
  return runAttempt({
    task: taskOf(task),
    params: {},
    signal: new AbortController().signal,
    datasources: async () => null,
    attemptDir: join(dir.path, "work", String(attempt)),
    logPath: taskLogPath(join(dir.path, "logs"), 1, attempt, 1),
    env: testEnv,
    clock,
    ...extra,
  });
}

describe("$[...] in task text", () => {
  test("shell: script and env values, after ${} substitution, in the clock's zone", async () => {
    const result = await run(
      { type: "shell", env: { WHEN: "$[yyyy-MM-dd]" }, script: "echo '#{setValue(a=$[yyyyMMdd-${n}])} #{setValue(b=$[month_last_day(yyyyMMdd,-1)])} #{setValue(c=$[HH:mm])}'\necho \"#{setValue(e=$WHEN)}\"" },
      { params: { n: "2" } },
    );
    expect(result.state).toBe("SUCCESS");
    expect(result.outParams).toEqual({ a: "20240229", b: "20240229", c: "08:30", e: "2024-03-02" });
  });

  test("shell: a bad expression fails the attempt naming it; bash's $[1+2] is left alone", async () => {
    const bad = await run({ type: "shell", script: "echo $[nonsense(yyyy)]" });
    expect(bad.state).toBe("FAILURE");
    expect(bad.message).toContain("nonsense");
    const arith = await run({ type: "shell", script: "echo \"#{setValue(x=$[1+2])}\"" });
    expect(arith.outParams).toEqual({ x: "3" });
  });

  test("sql: expanded in the statement after the values are bound", async () => {
    await using db = await freshDatabaseUrl("postgres");
    const result = await run(
      { type: "sql", datasource: "main", sql: "SELECT '$[yyyyMMdd-1]' AS d, ${v}::text AS v" },
      { params: { v: "$[not expanded: a bound value]" }, datasources: async (name) => (name === "main" ? { type: "postgres", url: db.url } : null) },
    );
    expect(result.state).toBe("SUCCESS");
    expect(result.outParams).toMatchObject({ d: "20240301", v: "$[not expanded: a bound value]" });
  });
});
