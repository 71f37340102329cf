// Reads on the hot paths as drizzle prepared queries, on Postgres: what a master reads for every
// run it loads and every end (instance, project, task rows, the serial queue), and what the api
// reads for every run it starts (project by name, member role, workflow by name).
//
// drizzle builds a query's SQL text from its builder on every call: measured on the 2-core box
// (one Store, 2,000 sequential calls each, CPU of the calling process), a select of one instance
// with its workflow's name cost 343-357 µs of CPU built each time and 113 µs prepared (postgres.js
// alone: 80-85 µs); the project 198 → 57, the task rows 290 → 67, the serial queue's question
// 194 → 75 µs. A master spent ~1 ms of CPU per run loaded building SQL text, now ~0.3 ms.
//
// One builder per read, written once: `arg(name)` is a placeholder on Postgres (the query is
// prepared once per drizzle database: a pool that pg-pool.ts replaces prepares it again) and the
// value itself on SQLite, which keeps building its queries: its reads are not the cluster's hot
// path, and a prepared bun:sqlite statement would outlive the connection's close
// (store/dialect.ts finalizeStatements finalizes the statement cache only).

import { type Placeholder, sql } from "drizzle-orm";
import type { Db, Runner, Tables } from "./dialect.ts";

/** A query's argument `key`: a placeholder (Postgres, prepared) or the value (SQLite). */
export type Arg<V> = <K extends keyof V & string>(key: K) => V[K] | Placeholder;

/** What a drizzle select offers: awaited as it is (SQLite), or prepared and executed (Postgres). */
interface Preparable<R> extends PromiseLike<R> {
  prepare(name: string): { execute(values: Record<string, unknown>): Promise<R> };
}

/** A hot read: `build` makes the query from the tables and its arguments; the result runs it on `db`. */
export function hotRead<V extends Record<string, unknown>, R>(name: string, build: (db: Db, arg: Arg<V>, t: Tables) => Preparable<R>): (run: Pick<Runner, "dialect" | "t">, db: Db, values: V) => Promise<R> {
  const prepared = new WeakMap<Db, ReturnType<Preparable<R>["prepare"]>>();
  const placeholder: Arg<V> = (key) => sql.placeholder(key);
  return async (run, db, values) => {
    if (run.dialect !== "postgres") return await build(db, (key) => values[key], run.t);
    let query = prepared.get(db);
    if (query === undefined) prepared.set(db, (query = build(db, placeholder, run.t).prepare(name)));
    return query.execute(values);
  };
}
