// The sql task on a real, empty Postgres database.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { runAttempt, type RunAttemptOptions } from "../../../src/worker/executor.ts";
import { taskLogPath } from "../../../src/worker/task-log.ts";
import type { DatasourceLookup } from "../../../src/worker/task-types/types.ts";
import { freshDatabaseUrl } from "../../helpers/stores.ts";
import { taskOf, tempDir, waitFor } from "./worker-helpers.ts";

const dir = tempDir("sql");
let db: { url: string } & AsyncDisposable;
let admin: postgres.Sql;
beforeAll(async () => {
  db = await freshDatabaseUrl("postgres");
  admin = postgres(db.url, { max: 1, onnotice: () => {} });
  await admin`CREATE TABLE fruit (id int PRIMARY KEY, name text NOT NULL, picked date)`;
  await admin`INSERT INTO fruit VALUES (1, 'apple', '2025-01-02'), (2, 'pear', NULL), (3, 'plum', '2025-03-04')`;
});
afterAll(async () => {
  await admin.end();
  await db[Symbol.asyncDispose]();
  dir[Symbol.dispose]();
});

const datasources: DatasourceLookup = async (name) => (name === "main" ? { type: "postgres", url: db.url } : null);
let attempt = 0;
async function run(task: Record<string, unknown>, extra: Partial<RunAttemptOptions> = {}) {
  attempt++;
  const logPath = taskLogPath(join(dir.path, "logs"), 1, attempt, 1);
  const result = await runAttempt({
    task: taskOf({ type: "sql", datasource: "main", ...task }),
    params: {},
    signal: new AbortController().signal,
    datasources,
    attemptDir: join(dir.path, "work", String(attempt)),
    logPath,
    ...extra,
  });
  return { result, log: readFileSync(logPath, "utf8") };
}

describe("sql task", () => {
  test("a query: first row's columns and all rows become OUT params; rows in the log", async () => {
    const { result, log } = await run({ sql: "SELECT id, name, picked FROM fruit ORDER BY id" });
    expect(result.state).toBe("SUCCESS");
    expect(result.outParams).toMatchObject({ id: "1", name: "apple", "sql.rowCount": "3" });
    expect(result.outParams.picked).toStartWith("2025-01-0");
    const rows = JSON.parse(result.outParams["sql.rows"]!);
    expect(rows.map((r: { name: string }) => r.name)).toEqual(["apple", "pear", "plum"]);
    expect(rows[1].picked).toBeNull();
    expect(log).toContain("[sys] 3 row(s)");
    expect(log).toContain('"name":"pear"');
  });

  test("${name} is bound as a value, so a hostile value cannot change the statement", async () => {
    const { result } = await run({ sql: "SELECT count(*)::int AS n FROM fruit WHERE name = '${fruit}'" }, { params: { fruit: "x' OR '1'='1" } });
    expect(result.outParams.n).toBe("0");
    const ok = await run({ sql: "SELECT id FROM fruit WHERE name = ${fruit} AND id > ${min}" }, { params: { fruit: "plum", min: "1" } });
    expect(ok.result.outParams).toMatchObject({ id: "3", "sql.rowCount": "1" });
    expect((await admin`SELECT count(*)::int AS n FROM fruit`)[0]!.n).toBe(3);
  });

  test("!{name} pastes the value (identifiers, directions) while ${name} stays bound; an unknown !{name} fails naming it", async () => {
    // Issue 9 item 13; seen failing before: !{table} reached Postgres as written (syntax error).
    const params = { table: "fruit", column: "name", dir: "DESC", fruit: "x' OR '1'='1" };
    const { result, log } = await run({ sql: "SELECT !{column} AS v, count(*) OVER ()::int AS n FROM !{table} WHERE name <> ${fruit} ORDER BY id !{dir}" }, { params });
    expect(result.state).toBe("SUCCESS");
    expect(result.outParams).toMatchObject({ v: "plum", n: "3", "sql.rowCount": "3" });
    expect(log).toContain("SQL: SELECT name AS v, count(*) OVER ()::int AS n FROM fruit WHERE name <> $1 ORDER BY id DESC  -- 1 bound value(s)");
    // Quotes around it go, as in DolphinScheduler; a pasted value is not scanned again for ${…}.
    const quoted = await run({ sql: "SELECT count(*)::int AS n FROM '!{table}' WHERE name = '${fruit}'" }, { params: { table: "fruit", fruit: "pear" } });
    expect(quoted.result.outParams.n).toBe("1");
    const unknown = await run({ sql: "SELECT * FROM !{nope}" });
    expect(unknown.result.state).toBe("FAILURE");
    expect(unknown.result.message).toContain('sql: !{nope} names no parameter of this task; set "nope"');
  });

  test("NON_QUERY reports the affected count; a script of several statements runs whole", async () => {
    const { result, log } = await run({ sql: "UPDATE fruit SET picked = NULL WHERE id >= 2", sqlType: "NON_QUERY" });
    expect(result).toEqual({ state: "SUCCESS", outParams: { "sql.rowCount": "2" } });
    expect(log).toContain("2 row(s) affected");
    const script = await run({ sql: "CREATE TABLE t2 (a int); INSERT INTO t2 VALUES (1), (2); SELECT sum(a)::int AS total FROM t2" });
    expect(script.result.outParams).toMatchObject({ total: "3" });
  });

  test("an SQL error fails the task with Postgres's message in the log", async () => {
    const { result, log } = await run({ sql: "SELEC * FROM fruit" });
    expect(result.state).toBe("FAILURE");
    expect(result.message).toContain('syntax error at or near "SELEC"');
    expect(log).toContain("SQL error 42601 at character 1");
  });

  test("an unknown datasource and an unreachable server are failures that say so", async () => {
    const unknown = await run({ datasource: "other", sql: "SELECT 1" });
    expect(unknown.result).toMatchObject({ state: "FAILURE", message: 'no datasource named "other" in this project; create it first' });
    const away = await run({ sql: "SELECT 1" }, { datasources: async () => ({ type: "postgres", url: "postgres://postgres:pw@127.0.0.1:1/x" }) });
    expect(away.result.state).toBe("FAILURE");
    expect(away.log).not.toContain(":pw@");
  });

  test("stop cancels the running query", async () => {
    const ac = new AbortController();
    const running = run({ sql: "SELECT pg_sleep(300)" }, { signal: ac.signal });
    await waitFor("the query to run on the server", async () => {
      const rows = await admin`SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(300)' AND state = 'active'`;
      return rows.length > 0;
    });
    ac.abort();
    const { result, log } = await running;
    expect(result.state).toBe("KILL");
    expect(log).toContain("query cancelled");
    await waitFor("the server to drop the query", async () => {
      const rows = await admin`SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(300)' AND state = 'active'`;
      return rows.length === 0;
    });
  });
});
