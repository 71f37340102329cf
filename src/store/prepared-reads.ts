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
// A prepared query belongs to the drizzle database it was made on: one per database (a pool that
// pg-pool.ts replaces gets its own on first use). SQLite keeps building them: its reads are not
// the cluster's hot path, and a prepared bun:sqlite statement would outlive the connection's close
// (store/dialect.ts finalizeStatements finalizes the statement cache only).

import type { Db } from "./dialect.ts";

/** `build(db)` once per drizzle database; `build` calls `.prepare(name)` on a query with sql.placeholder()s. */
export function preparedOn<P>(build: (db: Db) => P): (db: Db) => P {
  const made = new WeakMap<Db, P>();
  return (db) => {
    let p = made.get(db);
    if (p === undefined) made.set(db, (p = build(db)));
    return p;
  };
}
