// The drizzle definitions (what the code believes) must match the migrated databases (what
// is really there), table by table, on both dialects — and the two dialects' definitions
// must match each other. A deliberately drifted database proves the comparison can fail.

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import type { Table } from "drizzle-orm";
import postgres from "postgres";
import { migrateDatabase } from "../../../src/store/open.ts";
import * as pgSchema from "../../../src/store/schema-pg.ts";
import * as sqliteSchema from "../../../src/store/schema-sqlite.ts";
import { freshDatabaseUrl, rawExec } from "../../helpers/stores.ts";
import { drizzleShape, postgresShape, postgresTables, sqliteShape, sqliteTables, type TableShape } from "./schema-shape.ts";

const bookkeeping = ["porpoise_migrations", "sqlite_sequence"];
const pgTables = Object.values(pgSchema) as Table[];
const sqliteTablesDeclared = Object.values(sqliteSchema) as Table[];
const tableName = (t: Table) => (t as unknown as { [k: symbol]: string })[Symbol.for("drizzle:Name")]!;

async function describeSqlite(url: string): Promise<{ tables: string[]; shape: (name: string) => TableShape; strict: string[] }> {
  const db = new Database(url.slice("sqlite:".length), { readonly: true });
  const tables = sqliteTables(db).filter((n) => !bookkeeping.includes(n));
  const shapes = new Map(tables.map((n) => [n, sqliteShape(db, n)]));
  const strict = (db.query("PRAGMA table_list").all() as { name: string; strict: number; schema: string }[])
    .filter((r) => r.schema === "main" && r.strict && !bookkeeping.includes(r.name))
    .map((r) => r.name);
  db.close();
  return { tables, shape: (n) => shapes.get(n)!, strict };
}

async function describePostgres(url: string): Promise<{ tables: string[]; shape: (name: string) => TableShape }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const tables = (await postgresTables(sql)).filter((n) => !bookkeeping.includes(n));
    const shapes = new Map<string, TableShape>();
    for (const n of tables) shapes.set(n, await postgresShape(sql, n));
    return { tables, shape: (n) => shapes.get(n)! };
  } finally {
    await sql.end();
  }
}

/** Every difference between declared and actual, as readable lines (empty when they agree). */
function differences(declared: Table[], dialect: "sqlite" | "postgres", actual: { tables: string[]; shape: (n: string) => TableShape }): string[] {
  const out: string[] = [];
  const names = declared.map(tableName);
  for (const n of actual.tables) if (!names.includes(n)) out.push(`table ${n} exists in the database but not in drizzle`);
  for (const table of declared) {
    const name = tableName(table);
    if (!actual.tables.includes(name)) {
      out.push(`table ${name} is declared in drizzle but missing from the database`);
      continue;
    }
    const want = drizzleShape(table, dialect);
    const got = actual.shape(name);
    for (const col of new Set([...Object.keys(want.columns), ...Object.keys(got.columns)])) {
      if (want.columns[col] !== got.columns[col]) {
        out.push(`${name}.${col}: drizzle says ${want.columns[col] ?? "(absent)"}, database has ${got.columns[col] ?? "(absent)"}`);
      }
    }
    for (const key of ["primaryKey", "uniques", "indexes", "foreignKeys"] as const) {
      if (JSON.stringify(want[key]) !== JSON.stringify(got[key])) {
        out.push(`${name} ${key}: drizzle says ${JSON.stringify(want[key])}, database has ${JSON.stringify(got[key])}`);
      }
    }
  }
  return out;
}

describe("drizzle schema vs migrated database", () => {
  test("sqlite: every table, column, key and index agrees; every table is STRICT", async () => {
    await using db = await freshDatabaseUrl("sqlite");
    await migrateDatabase(db.url);
    const actual = await describeSqlite(db.url);
    expect(differences(sqliteTablesDeclared, "sqlite", actual)).toEqual([]);
    expect(actual.strict.sort()).toEqual([...actual.tables].sort());
    expect(actual.tables.length).toBe(sqliteTablesDeclared.length);
  });

  test("postgres: every table, column, key and index agrees", async () => {
    await using db = await freshDatabaseUrl("postgres");
    await migrateDatabase(db.url);
    const actual = await describePostgres(db.url);
    expect(differences(pgTables, "postgres", actual)).toEqual([]);
    expect(actual.tables.length).toBe(pgTables.length);
  });

  test("the two dialects declare the same tables, columns, value types, keys and indexes", () => {
    const family = (tables: Table[], dialect: "sqlite" | "postgres") =>
      Object.fromEntries(tables.map((t) => [tableName(t), drizzleShape(t, dialect, "family")]));
    expect(family(sqliteTablesDeclared, "sqlite")).toEqual(family(pgTables, "postgres"));
  });

  test("the comparison catches drift: an extra column, a lost NOT NULL, a dropped index, an unknown table", async () => {
    await using sqliteDb = await freshDatabaseUrl("sqlite");
    await migrateDatabase(sqliteDb.url);
    await rawExec(
      sqliteDb.url,
      "ALTER TABLE users ADD COLUMN nickname TEXT; DROP INDEX api_tokens_user_idx; CREATE TABLE stray (id INTEGER PRIMARY KEY) STRICT;",
    );
    expect(differences(sqliteTablesDeclared, "sqlite", await describeSqlite(sqliteDb.url)).sort()).toEqual([
      'api_tokens indexes: drizzle says ["api_tokens_user_idx(user_id)"], database has []',
      "table stray exists in the database but not in drizzle",
      "users.nickname: drizzle says (absent), database has text null",
    ]);

    await using pgDb = await freshDatabaseUrl("postgres");
    await migrateDatabase(pgDb.url);
    await rawExec(
      pgDb.url,
      "ALTER TABLE projects ALTER COLUMN description DROP NOT NULL; ALTER TABLE task_instances ALTER COLUMN attempt TYPE bigint; " +
        "ALTER TABLE workflow_instances DROP CONSTRAINT workflow_instances_schedule_fire_unique;",
    );
    expect(differences(pgTables, "postgres", await describePostgres(pgDb.url)).sort()).toEqual([
      "projects.description: drizzle says text not null, database has text null",
      "task_instances.attempt: drizzle says integer not null, database has bigint not null",
      'workflow_instances uniques: drizzle says ["project_id,request_key","schedule_id,schedule_time"], database has ["project_id,request_key"]',
    ]);
  });
});
