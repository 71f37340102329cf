// The dialect adapter: the one place where SQLite is made to look like Postgres.
//
// The repositories are written once, against the Postgres-typed drizzle database and tables.
// For SQLite we hand them the SQLite database and the SQLite tables *typed as* their Postgres
// twins. That is sound because the query builders share their surface (select / insert /
// update / delete / returning / onConflictDoNothing all exist and await the same way), the
// tables have the same property names and — checked below at compile time — the same row
// types, and each column converts its own values (Date ↔ integer ms, object ↔ JSON text,
// boolean ↔ 0/1) whatever code built the query. Repository code must therefore stick to the
// shared surface: no `.for("update")`, no dialect-specific SQL functions in `sql` fragments.
//
// Transactions differ: drizzle's SQLite transaction cannot span an async callback, and
// bun:sqlite is one synchronous connection. So every SQLite store call — reads too — runs
// under one async mutex, and writes run inside BEGIN IMMEDIATE … COMMIT that we issue
// ourselves; no other statement can interleave into an open transaction.

import type { Database, Statement } from "bun:sqlite";
import type { InferInsertModel, InferSelectModel } from "drizzle-orm";
import { drizzle as drizzleSqlite } from "drizzle-orm/bun-sqlite";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import { type LeaseFence, newLeaseFence } from "./lease-fence.ts";
import { createMutex } from "./mutex.ts";
import type * as pgTables from "./schema-pg.ts";
import * as sqliteTables from "./schema-sqlite.ts";
import { toStoreError, violationOf, type Violation } from "./sql-errors.ts";
import type { Dialect } from "./store.ts";

export type Tables = typeof pgTables;
export type Db = PostgresJsDatabase;

/** Turns a constraint violation into the error a user should see; undefined = not handled here. */
export type ViolationHandler = (v: Violation) => Error | undefined;

/**
 * The driver under drizzle, for the few hot statements written by hand (attempt-sql.ts).
 * SQLite: compiled statements of the one connection (use them only inside read/write/exclusive).
 * Postgres: the pool, and the postgres.js transaction under a drizzle transaction of `write`.
 */
export type RawAccess =
  | { readonly dialect: "sqlite"; statement(sql: string): Statement }
  | { readonly dialect: "postgres"; readonly client: Sql; clientOf(tx: Db): Sql };

export interface Runner {
  readonly dialect: Dialect;
  readonly t: Tables;
  readonly raw: RawAccess;
  /** Whose slot leases fence the master's writes (lease-fence.ts; store.fenceWith sets it). */
  readonly fence: LeaseFence;
  /** A read; sees only committed data. */
  read<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /** One transaction: everything in `fn` commits together or not at all. */
  write<T>(fn: (tx: Db) => Promise<T>, onViolation?: ViolationHandler): Promise<T>;
  /**
   * `write` for the master's group commit: on Postgres one transaction at a time on a connection
   * of its own, with BEGIN and COMMIT sent along with the statements (pg-transaction.ts).
   */
  writePipelined<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Runs `fn` with exclusive use of the raw connection (SQLite) or directly (Postgres). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

function mapError(err: unknown, onViolation?: ViolationHandler, lastQuery?: string): Error {
  const violation = violationOf(err);
  const mapped = violation && onViolation?.(violation);
  return mapped ?? toStoreError(err, lastQuery);
}

/** Compiled statements kept per SQLite connection (LRU); a bulk statement's text varies with its row count. */
const STATEMENT_CACHE = 256;

/**
 * The connection as drizzle sees it, with compiled statements reused. drizzle's bun:sqlite
 * session calls `prepare(sql)` for every query, and bun:sqlite compiles the SQL each time:
 * `prepare` was 11% of the engine's CPU in scripts/bench/engine-hot-path.ts throughput
 * (bun --cpu-prof). A statement is only ever used by one query at a time (the mutex below, and
 * drizzle runs it to completion synchronously), so reusing it is safe; an evicted one is finalized.
 */
/** Per connection: finalizes its cached statements (finalizeStatements). */
const finalizers = new WeakMap<Database, () => void>();

/**
 * Finalizes the statements cached for `client`, before it closes: a connection closed with
 * statements still open stays open behind the scenes, so SQLite never runs the checkpoint of the
 * last close and the WAL file keeps the latest commits (a copy of porpoise.db alone, taken after
 * the server stopped, would miss them).
 */
export function finalizeStatements(client: Database): void {
  finalizers.get(client)?.();
}

function statementCache(client: Database): (sql: string) => Statement {
  const cache = new Map<string, Statement>();
  finalizers.set(client, () => {
    for (const stmt of cache.values()) stmt.finalize();
    cache.clear();
  });
  const prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (stmt) {
      cache.delete(sql);
    } else {
      stmt = client.prepare(sql);
      if (cache.size >= STATEMENT_CACHE) {
        const [oldest, old] = cache.entries().next().value!;
        cache.delete(oldest);
        old.finalize();
      }
    }
    cache.set(sql, stmt);
    return stmt;
  };
  return prepare;
}

export function sqliteRunner(client: Database): Runner {
  // drizzle's bun:sqlite session does not wrap every driver error with its query; with one
  // connection used by one caller at a time, the last query logged is the one that failed.
  let lastQuery: string | undefined;
  const statement = statementCache(client);
  // drizzle's session uses exactly these three members of the connection.
  const cached = { prepare: statement, exec: (sql: string) => client.exec(sql), transaction: client.transaction.bind(client) } as unknown as Database;
  const db = drizzleSqlite({ client: cached, logger: { logQuery: (query) => void (lastQuery = query) } }) as unknown as Db;
  const mutex = createMutex();
  const exclusive = <T>(fn: () => Promise<T>, onViolation?: ViolationHandler) =>
    mutex.run(async () => {
      lastQuery = undefined;
      try {
        return await fn();
      } catch (err) {
        throw mapError(err, onViolation, lastQuery);
      }
    });
  return {
    dialect: "sqlite",
    t: sqliteTables as unknown as Tables,
    raw: { dialect: "sqlite", statement },
    fence: newLeaseFence(),
    read: (fn) => exclusive(() => fn(db)),
    write,
    writePipelined: (fn) => write(fn),
    exclusive: (fn) => exclusive(fn),
  };
  function write<T>(fn: (tx: Db) => Promise<T>, onViolation?: ViolationHandler): Promise<T> {
    return exclusive(async () => {
        client.exec("BEGIN IMMEDIATE");
        try {
          const result = await fn(db);
          client.exec("COMMIT");
          return result;
        } catch (err) {
          // SQLite may already have rolled back (e.g. on SQLITE_FULL); a second ROLLBACK would throw.
          if (client.inTransaction) client.exec("ROLLBACK");
          throw err;
        }
      }, onViolation);
  }
}

/**
 * The postgres.js transaction a drizzle transaction runs on (drizzle-orm 0.45's PostgresJsSession
 * keeps it as `session.client`); checked, so a drizzle upgrade that moves it fails loudly.
 */
function postgresClientOf(tx: Db): Sql {
  const client = (tx as unknown as { session?: { client?: Sql } }).session?.client;
  if (typeof client?.unsafe !== "function") throw new Error("drizzle transaction without a postgres.js client (session.client): drizzle-orm changed; update dialect.ts");
  return client;
}

/**
 * `db` gives drizzle's postgres-js database on the pool in use now (pg-pool.ts replaces a pool that
 * lost a connection), `tables` the Postgres tables (schema-pg.ts); open.ts imports both only when
 * it opens Postgres, so `porpoise all` on SQLite never evaluates postgres.js or drizzle's pg-core
 * (idle RSS, see src/modes/all.ts).
 */
export function postgresRunner(db: () => Db, tables: Tables, pipelined: <T>(fn: (tx: Db) => Promise<T>) => Promise<T>): Runner {
  return {
    dialect: "postgres",
    t: tables,
    raw: {
      dialect: "postgres",
      get client() {
        return (db() as unknown as { $client: Sql }).$client;
      },
      clientOf: postgresClientOf,
    },
    fence: newLeaseFence(),
    read: (fn) => fn(db()).catch((err) => Promise.reject(mapError(err))),
    write: (fn, onViolation) =>
      db()
        .transaction((tx) => fn(tx as unknown as Db))
        .catch((err) => Promise.reject(mapError(err, onViolation))),
    writePipelined: (fn) => pipelined(fn).catch((err) => Promise.reject(mapError(err))),
    exclusive: (fn) => fn(),
  };
}

// Compile-time proof that both schema files describe the same tables with the same row
// types: a drifted column type or nullability makes one entry `false` and this fail. For
// inserts it is enough that whatever the Postgres types accept, SQLite accepts too (an
// INTEGER PRIMARY KEY such as slot_leases.slot is optional in SQLite, required in Postgres).
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
type SameTables = Equal<keyof typeof pgTables, keyof typeof sqliteTables>;
type SameRows = {
  [K in keyof typeof pgTables & keyof typeof sqliteTables]: Equal<
    InferSelectModel<(typeof pgTables)[K]>,
    InferSelectModel<(typeof sqliteTables)[K]>
  >;
};
type SameInserts = {
  [K in keyof typeof pgTables & keyof typeof sqliteTables]: [InferInsertModel<(typeof pgTables)[K]>] extends [
    InferInsertModel<(typeof sqliteTables)[K]>,
  ]
    ? true
    : false;
};
type AllTrue<T> = { [K in keyof T]: true };
export const schemasAgree: { tables: true; rows: AllTrue<SameRows>; inserts: AllTrue<SameInserts> } = {} as {
  tables: SameTables;
  rows: SameRows;
  inserts: SameInserts;
};
