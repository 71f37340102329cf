// sql: one statement (or, without params, a script of several) on a named Postgres datasource
// of the project, over a short-lived connection of its own.
//
// - `${name}` of a known param is BOUND as a query parameter, not pasted into the text, as
//   DolphinScheduler's sql task does (quotes written around it are absorbed: '${d}' → $1):
//   a value can never change the statement. Unknown names stay as written. `!{name}` is
//   DolphinScheduler's raw substitution for identifiers: the value IS pasted into the text
//   (README: whoever sets that param writes SQL). With bound
//   values the extended protocol runs exactly one statement; without, the simple protocol
//   runs the whole text, and the last statement's result counts.
// - QUERY (or, with no sqlType, any statement returning columns): the first row's columns
//   become OUT params (null → "", dates as ISO text, json as JSON text), and all rows as a
//   JSON array under `sql.rows` (at most MAX_ROWS rows and MAX_ROWS_JSON_BYTES; cut with a log
//   line); `sql.rowCount` is the number of rows returned. NON_QUERY: `sql.rowCount` = affected rows.
// - an SQL error fails the task with Postgres's message (and position) in the log; an abort
//   cancels the running query (postgres.js `query.cancel()`): KILL.

import { ValidationError } from "../../core/errors.ts";
import { expandTimeExpressions } from "../../core/params/index.ts";
import type postgres from "postgres";
import { redactUrl } from "../../core/redact-url.ts";
import type { SqlTask } from "../../core/workflow-schema.ts";
import { errorText, type TaskResult, type TaskRunner } from "./types.ts";

export const SQL_ROWS_PARAM = "sql.rows";
export const SQL_ROW_COUNT_PARAM = "sql.rowCount";
const MAX_ROWS = 1000;
const MAX_ROWS_JSON_BYTES = 64 * 1024;
const LOGGED_ROWS = 20;
const CONNECT_TIMEOUT_SECONDS = 10;

/**
 * `${name}` of known params → `$1…`, with the values in order; quotes around a placeholder go too.
 * `!{name}` → the value pasted into the text as it is (DolphinScheduler's raw substitution, for
 * what cannot be bound: table and column names, ORDER BY directions…); quotes around it go too,
 * as in DS. One pass: a pasted value is never scanned again. An unknown `!{name}` throws
 * ValidationError (left in the text it would only be a syntax error far from its cause).
 */
export function bindParams(sqlText: string, params: Readonly<Record<string, string>>): { text: string; values: string[] } {
  const values: string[] = [];
  const index = new Map<string, number>();
  const text = sqlText.replace(/(['"]?)([$!])\{([^{}]*)\}\1/g, (whole, _quote: string, sigil: string, name: string) => {
    if (sigil === "!") {
      if (!Object.hasOwn(params, name)) {
        throw new ValidationError(`sql: !{${name}} names no parameter of this task; set "${name}" (a startup, local, upstream OUT, global or project param) or write it into the SQL`);
      }
      return params[name]!;
    }
    if (!Object.hasOwn(params, name)) return whole;
    let n = index.get(name);
    if (n === undefined) {
      values.push(params[name]!);
      n = values.length;
      index.set(name, n);
    }
    return `$${n}`;
  });
  return { text, values };
}

function paramText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

type Rows = postgres.RowList<postgres.Row[]>;

function rowsJson(rows: readonly postgres.Row[]): { json: string; kept: number } {
  let kept = Math.min(rows.length, MAX_ROWS);
  let json = JSON.stringify(rows.slice(0, kept));
  while (Buffer.byteLength(json) > MAX_ROWS_JSON_BYTES && kept > 0) {
    kept = Math.floor(kept / 2);
    json = JSON.stringify(rows.slice(0, kept));
  }
  return { json, kept };
}

export const sqlRunner: TaskRunner<SqlTask> = {
  async run({ task, params, log, signal, datasources, clock }): Promise<TaskResult> {
    const fail = (message: string): TaskResult => {
      log.write("sys", message);
      return { state: "FAILURE", outParams: {}, message };
    };
    let datasource;
    try {
      datasource = await datasources(task.datasource);
    } catch (err) {
      return fail(`could not look up datasource "${task.datasource}": ${errorText(err)}`);
    }
    if (!datasource) return fail(`no datasource named "${task.datasource}" in this project; create it first`);
    if (signal.aborted) return { state: "KILL", outParams: {}, message: "stopped before it started" };

    let bound: { text: string; values: string[] };
    try {
      bound = bindParams(task.sql, params);
    } catch (err) {
      if (err instanceof ValidationError) return fail(err.message);
      throw err;
    }
    // `$[...]` written in the SQL is expanded after the `${}` binding (a value is never SQL text).
    const text = clock ? expandTimeExpressions(bound.text, clock) : bound.text;
    const values = bound.values;
    log.write("sys", `datasource "${task.datasource}" (${redactUrl(datasource.url)})`);
    log.write("sys", `SQL: ${text}${values.length ? `  -- ${values.length} bound value(s)` : ""}`);
    // The driver is loaded by the first sql task, not at start-up: an idle `porpoise all` on SQLite never needs it.
    const { default: connect } = await import("postgres");
    const sql = connect(datasource.url, {
      max: 1,
      connect_timeout: CONNECT_TIMEOUT_SECONDS,
      prepare: false,
      onnotice: (notice) => log.write("out", `${notice.severity ?? "NOTICE"}: ${notice.message}`),
    });
    const query = values.length ? sql.unsafe(text, values) : sql.unsafe(text).simple();
    const onAbort = () => void query.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const raw = (await query) as unknown as Rows | Rows[];
      const result: Rows = Array.isArray(raw) && Array.isArray(raw[0]) ? (raw.at(-1) as Rows) : (raw as Rows);
      const returnsRows = (result.columns?.length ?? 0) > 0;
      const asQuery = task.sqlType ? task.sqlType === "QUERY" : returnsRows;
      if (!asQuery) {
        log.write("sys", `${result.command ?? "statement"}: ${result.count ?? 0} row(s) affected`);
        return { state: "SUCCESS", outParams: { [SQL_ROW_COUNT_PARAM]: String(result.count ?? 0) } };
      }
      const rows: readonly postgres.Row[] = Array.from(result);
      log.write("sys", `${rows.length} row(s)`);
      for (const row of rows.slice(0, LOGGED_ROWS)) log.write("out", JSON.stringify(row));
      if (rows.length > LOGGED_ROWS) log.write("sys", `… ${rows.length - LOGGED_ROWS} more row(s) not logged`);
      const outParams: Record<string, string> = {};
      for (const [column, value] of Object.entries(rows[0] ?? {})) outParams[column] = paramText(value);
      const { json, kept } = rowsJson(rows);
      if (kept < rows.length) log.write("sys", `${SQL_ROWS_PARAM} keeps the first ${kept} of ${rows.length} rows (at most ${MAX_ROWS} rows and ${MAX_ROWS_JSON_BYTES} bytes)`);
      outParams[SQL_ROWS_PARAM] = json;
      outParams[SQL_ROW_COUNT_PARAM] = String(rows.length);
      return { state: "SUCCESS", outParams };
    } catch (err) {
      if (signal.aborted) {
        log.write("sys", "query cancelled: stopped");
        return { state: "KILL", outParams: {}, message: "stopped" };
      }
      const pg = err as { message?: string; code?: string; position?: string };
      const where = pg.position ? ` at character ${pg.position}` : "";
      return fail(`SQL error${pg.code ? ` ${pg.code}` : ""}${where}: ${pg.message ?? errorText(err)}`);
    } finally {
      signal.removeEventListener("abort", onAbort);
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  },
};
