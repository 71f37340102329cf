// Applies the embedded migrations. All pending migrations and their bookkeeping rows go in
// one transaction: a database is at migration N or at N+k, never in between. On Postgres the
// transaction first takes an advisory lock, so processes starting at the same moment queue up
// and the later ones find the work done; on SQLite, BEGIN IMMEDIATE does the same.

import type { Database } from "bun:sqlite";
import type { Sql } from "postgres";
import { StoreError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { migrations, type Migration } from "./migrations.ts";
import type { Dialect } from "./store.ts";

export type Connection = { dialect: "sqlite"; client: Database } | { dialect: "postgres"; client: Sql };

interface AppliedMigration {
  id: number;
  name: string;
  checksum: string;
}

const ADVISORY_LOCK = "porpoise.migrations";

const bookkeeping: Record<Dialect, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS porpoise_migrations (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL
  ) STRICT`,
  postgres: `CREATE TABLE IF NOT EXISTS porpoise_migrations (
    id integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
    applied_at timestamp(3) with time zone NOT NULL DEFAULT now()
  )`,
};

/** The embedded migrations not yet applied; throws when the database's history disagrees with ours. */
export function pendingMigrations(dialect: Dialect, applied: readonly AppliedMigration[]): Migration[] {
  const embedded = migrations[dialect];
  const known = new Map(embedded.map((m) => [m.id, m]));
  for (const row of applied) {
    const ours = known.get(Number(row.id));
    if (!ours) {
      const newest = embedded.at(-1)?.name ?? "none";
      throw new StoreError(
        `the database has migration ${row.name} applied, which this porpoise does not know (its newest is ${newest}): ` +
          "run a porpoise at least as new as the one that migrated this database",
      );
    }
    if (ours.checksum !== row.checksum) {
      throw new StoreError(
        `migration ${ours.name} was edited after it was applied to this database ` +
          `(checksum applied ${row.checksum.slice(0, 12)}…, embedded ${ours.checksum.slice(0, 12)}…): ` +
          "migrations are forward-only — restore the original file and put the change in a new migration",
      );
    }
  }
  const done = new Set(applied.map((r) => Number(r.id)));
  return embedded.filter((m) => !done.has(m.id));
}

async function readApplied(conn: Connection): Promise<AppliedMigration[] | null> {
  if (conn.dialect === "sqlite") {
    const exists = conn.client.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'porpoise_migrations'").get();
    if (!exists) return null;
    return conn.client.query("SELECT id, name, checksum FROM porpoise_migrations ORDER BY id").all() as AppliedMigration[];
  }
  const [exists] = await conn.client`SELECT to_regclass('porpoise_migrations') IS NOT NULL AS present`;
  if (!exists?.present) return null;
  return await conn.client<AppliedMigration[]>`SELECT id, name, checksum FROM porpoise_migrations ORDER BY id`;
}

/** Names of the embedded migrations the database lacks ([] when up to date). Throws on a history mismatch. */
export async function missingMigrations(conn: Connection): Promise<string[]> {
  const applied = await readApplied(conn);
  return pendingMigrations(conn.dialect, applied ?? []).map((m) => m.name);
}

function migrateSqlite(client: Database, log: Logger): string[] {
  client.exec("BEGIN IMMEDIATE");
  try {
    client.exec(bookkeeping.sqlite);
    const applied = client.query("SELECT id, name, checksum FROM porpoise_migrations ORDER BY id").all() as AppliedMigration[];
    const pending = pendingMigrations("sqlite", applied);
    const record = client.query("INSERT INTO porpoise_migrations (id, name, checksum, applied_at) VALUES (?, ?, ?, ?)");
    for (const m of pending) {
      runStep(m, () => client.exec(m.sql));
      record.run(m.id, m.name, m.checksum, Date.now());
      log.info("applied migration", { dialect: "sqlite", migration: m.name });
    }
    client.exec("COMMIT");
    return pending.map((m) => m.name);
  } catch (err) {
    if (client.inTransaction) client.exec("ROLLBACK");
    throw err;
  }
}

async function migratePostgres(client: Sql, log: Logger): Promise<string[]> {
  return await client.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${ADVISORY_LOCK}))`;
    await tx.unsafe(bookkeeping.postgres);
    const applied = await tx<AppliedMigration[]>`SELECT id, name, checksum FROM porpoise_migrations ORDER BY id`;
    const pending = pendingMigrations("postgres", applied);
    for (const m of pending) {
      await runStepAsync(m, () => tx.unsafe(m.sql).simple());
      await tx`INSERT INTO porpoise_migrations (id, name, checksum) VALUES (${m.id}, ${m.name}, ${m.checksum})`;
      log.info("applied migration", { dialect: "postgres", migration: m.name });
    }
    return pending.map((m) => m.name);
  });
}

function failed(m: Migration, err: unknown): StoreError {
  const reason = err instanceof Error ? err.message : String(err);
  return new StoreError(`migration ${m.name} failed: ${reason} (nothing was applied; the database is unchanged)`, err);
}

function runStep(m: Migration, step: () => void): void {
  try {
    step();
  } catch (err) {
    throw failed(m, err);
  }
}

async function runStepAsync(m: Migration, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (err) {
    throw failed(m, err);
  }
}

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function applyMigrations(conn: Connection, log: Logger): Promise<string[]> {
  return conn.dialect === "sqlite" ? migrateSqlite(conn.client, log) : await migratePostgres(conn.client, log);
}
