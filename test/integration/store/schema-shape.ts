// Reduces a table — as drizzle declares it, or as a migrated database has it — to one plain
// shape, so the drift test can compare them with toEqual and print readable differences.

import type { Database } from "bun:sqlite";
import { type Column, getTableName, type Table } from "drizzle-orm";
import { getTableConfig as pgTableConfig, type PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import type postgres from "postgres";

export interface TableShape {
  /** column → "<type> null|not null" */
  columns: Record<string, string>;
  primaryKey: string[];
  /** Column lists of unique constraints and unique indexes, e.g. "project_id,name". */
  uniques: string[];
  /** Plain indexes, "name(col,col)". */
  indexes: string[];
  /** "col -> table.col on delete <action>" */
  foreignKeys: string[];
}

/** The value type a column holds whatever the dialect stores it as; must agree across dialects. */
const families: Record<string, string> = {
  PgBigInt53: "integer",
  PgInteger: "integer",
  SQLiteInteger: "integer",
  PgText: "text",
  SQLiteText: "text",
  PgTimestamp: "timestamp",
  SQLiteTimestamp: "timestamp",
  PgBoolean: "boolean",
  SQLiteBoolean: "boolean",
  PgJsonb: "json",
  SQLiteTextJson: "json",
  // Bytes: the only custom Postgres column is bytea (schema-pg.ts).
  PgCustomColumn: "bytes",
  SQLiteBlobBuffer: "bytes",
};

type Mode = "sql" | "family";

function columnType(column: Column, mode: Mode): string {
  if (mode === "family") return families[column.columnType] ?? `unknown ${column.columnType}`;
  return column.getSQLType().toLowerCase().replace(/ \(/g, "(");
}

const sorted = (xs: string[]) => [...xs].sort();
const action = (a: string | undefined) => (a ?? "no action").toLowerCase();

type AnyConfig = ReturnType<typeof pgTableConfig> | ReturnType<typeof sqliteTableConfig>;

/** The shape drizzle declares. `mode: "family"` compares value types across dialects instead of SQL types. */
export function drizzleShape(table: Table, dialect: "sqlite" | "postgres", mode: Mode = "sql"): TableShape {
  const config: AnyConfig =
    dialect === "postgres" ? pgTableConfig(table as PgTable) : sqliteTableConfig(table as SQLiteTable);
  const columns: Record<string, string> = {};
  for (const c of config.columns as Column[]) columns[c.name] = `${columnType(c, mode)} ${c.notNull ? "not null" : "null"}`;
  const composite = config.primaryKeys[0]?.columns.map((c) => c.name);
  const uniques = [
    ...(config.columns as Column[]).filter((c) => c.isUnique).map((c) => c.name),
    ...config.uniqueConstraints.map((u) => u.columns.map((c) => c.name).join(",")),
    ...config.indexes.filter((i) => i.config.unique).map((i) => i.config.columns.map((c) => (c as Column).name).join(",")),
  ];
  return {
    columns,
    primaryKey: composite ?? (config.columns as Column[]).filter((c) => c.primary).map((c) => c.name),
    uniques: sorted(uniques),
    indexes: sorted(
      config.indexes.filter((i) => !i.config.unique).map((i) => `${i.config.name}(${i.config.columns.map((c) => (c as Column).name).join(",")})`),
    ),
    foreignKeys: sorted(
      config.foreignKeys.map((fk) => {
        const ref = fk.reference();
        const target = `${getTableName(ref.foreignTable)}.${ref.foreignColumns.map((c) => c.name).join(",")}`;
        return `${ref.columns.map((c) => c.name).join(",")} -> ${target} on delete ${action(fk.onDelete)}`;
      }),
    ),
  };
}

export function sqliteShape(db: Database, table: string): TableShape {
  const info = db.query(`PRAGMA table_info("${table}")`).all() as { name: string; type: string; notnull: number; pk: number }[];
  const columns: Record<string, string> = {};
  // An INTEGER PRIMARY KEY is the rowid and never NULL, whatever the declaration says.
  for (const c of info) columns[c.name] = `${c.type.toLowerCase()} ${c.notnull || c.pk ? "not null" : "null"}`;
  const indexList = db.query(`PRAGMA index_list("${table}")`).all() as { name: string; unique: number; origin: string }[];
  const indexColumns = (name: string) =>
    (db.query(`PRAGMA index_info("${name}")`).all() as { seqno: number; name: string }[])
      .sort((a, b) => a.seqno - b.seqno)
      .map((c) => c.name)
      .join(",");
  const fks = db.query(`PRAGMA foreign_key_list("${table}")`).all() as { table: string; from: string; to: string; on_delete: string }[];
  return {
    columns,
    primaryKey: info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
    uniques: sorted(indexList.filter((i) => i.unique && i.origin !== "pk").map((i) => indexColumns(i.name))),
    indexes: sorted(indexList.filter((i) => !i.unique).map((i) => `${i.name}(${indexColumns(i.name)})`)),
    foreignKeys: sorted(fks.map((f) => `${f.from} -> ${f.table}.${f.to} on delete ${action(f.on_delete)}`)),
  };
}

export function sqliteTables(db: Database): string[] {
  return (db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

export async function postgresShape(sql: postgres.Sql, table: string): Promise<TableShape> {
  const cols = await sql<{ name: string; type: string; notnull: boolean }[]>`
    SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS notnull
    FROM pg_attribute WHERE attrelid = ${table}::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`;
  const indexes = await sql<{ name: string; primary: boolean; unique: boolean; columns: string }[]>`
    SELECT i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
      (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum) AS columns
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ${table}::regclass`;
  const fks = await sql<{ columns: string; target: string; target_columns: string; on_delete: string }[]>`
    SELECT (SELECT string_agg(a.attname, ',') FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS columns,
      c.confrelid::regclass::text AS target,
      (SELECT string_agg(a.attname, ',') FROM pg_attribute a WHERE a.attrelid = c.confrelid AND a.attnum = ANY (c.confkey)) AS target_columns,
      CASE c.confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' ELSE 'set default' END AS on_delete
    FROM pg_constraint c WHERE c.conrelid = ${table}::regclass AND c.contype = 'f'`;
  const columns: Record<string, string> = {};
  for (const c of cols) columns[c.name] = `${c.type} ${c.notnull ? "not null" : "null"}`;
  return {
    columns,
    primaryKey: indexes.find((i) => i.primary)?.columns.split(",") ?? [],
    uniques: sorted(indexes.filter((i) => i.unique && !i.primary).map((i) => i.columns)),
    indexes: sorted(indexes.filter((i) => !i.unique).map((i) => `${i.name}(${i.columns})`)),
    foreignKeys: sorted(fks.map((f) => `${f.columns} -> ${f.target}.${f.target_columns} on delete ${f.on_delete}`)),
  };
}

export async function postgresTables(sql: postgres.Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
  return rows.map((r) => r.name);
}
