// Opens a Store from a URL: `sqlite:<path>` / `sqlite::memory:` (embedded) or
// `postgres://…` / `postgresql://…` (cluster). Migrates on open unless told not to.

import { createRetentionRepository } from "./retention.ts";
import { redactUrl } from "../core/redact-url.ts";
import { Database } from "bun:sqlite";
import type { Sql } from "postgres";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError, StoreError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import { createAuditRepository } from "./audit.ts";
import { createClusterRepository } from "./cluster-nodes.ts";
import { createEdgeWorkerRepository } from "./edge-workers.ts";
import { createWorkerTokenRepository } from "./worker-tokens.ts";
import { createCommandRepository } from "./commands.ts";
import { createDatasourceRepository } from "./datasources.ts";
import { createAlertConfigRepository } from "./alert-config.ts";
import { createAlertOutboxRepository } from "./alert-outbox.ts";
import { type Db, finalizeStatements, postgresRunner, type Runner, sqliteRunner } from "./dialect.ts";
import { createInstanceRepository } from "./instances.ts";
import { setFenceNode } from "./lease-fence.ts";
import { createLogChunkRepository } from "./log-chunks.ts";
import { createMemberRepository } from "./members.ts";
import { applyMigrations, type Connection, missingMigrations } from "./migrate.ts";
import type { PgPool } from "./pg-pool.ts";
import { createProjectRepository } from "./projects.ts";
import { createScheduleRepository } from "./schedules.ts";
import { createBackfillRepository } from "./backfills.ts";
import { toStoreError } from "./sql-errors.ts";
import { SqliteCheckpointer } from "./sqlite-checkpointer.ts";
import type { Store } from "./store.ts";
import { createTaskInstanceRepository } from "./task-instances.ts";
import { createTokenRepository } from "./tokens.ts";
import { createUserRepository } from "./users.ts";
import { createWorkflowRepository } from "./workflows.ts";
import { countingRunner, type StoreStats } from "./store-stats.ts";

type Target = { dialect: "sqlite"; path: string } | { dialect: "postgres"; url: string };

/** The URL with any password replaced, for messages and logs. */
export { redactUrl };

function parseTarget(url: string): Target {
  if (url === "sqlite::memory:") return { dialect: "sqlite", path: ":memory:" };
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\//, "");
    if (path === "") throw new ConfigError("database URL `sqlite:` names no file: use sqlite:<path> or sqlite::memory:");
    return { dialect: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: "postgres", url };
  throw new ConfigError(
    `database URL "${redactUrl(url)}" is not supported: use sqlite:<path>, sqlite::memory: or postgres://user@host:port/db`,
    [{ path: "db", message: "expected sqlite:<path> or postgres://…" }],
  );
}

/**
 * Switching a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once
 * (busy_timeout does not apply) while another process is doing the same — e.g. two processes
 * started together on a fresh data dir. Once one has switched, the file stays in WAL mode.
 */
async function enableWal(client: Database): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      client.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_BUSY" || attempt >= 100) throw err;
      await Bun.sleep(Math.min(5 * attempt, 50));
    }
  }
}

async function openSqlite(path: string): Promise<Opened & { dialect: "sqlite" }> {
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const client = new Database(path, { create: true, strict: true });
    // Another process (e.g. `porpoise migrate` next to a running server) may hold the write lock briefly.
    client.exec("PRAGMA busy_timeout = 5000");
    await enableWal(client);
    client.exec("PRAGMA foreign_keys = ON");
    // In WAL mode NORMAL loses nothing when a process dies, only (maybe) the last commits on power loss.
    client.exec("PRAGMA synchronous = NORMAL");
    return { dialect: "sqlite", client, path };
  } catch (err) {
    throw new StoreError(`cannot open SQLite database ${path}: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

type Opened =
  | {
      dialect: "sqlite";
      client: Database;
      path: string;
      /** Started by openStore for a file database (sqlite-checkpointer.ts); stopped before the close. */
      checkpointer?: SqliteCheckpointer;
    }
  | {
      dialect: "postgres";
      client: Sql;
      pool: PgPool;
      /** A pool of one connection for the master's group commit (pg-transaction.ts), opened on first use. */
      single(): PgPool;
      endSingle(): Promise<void>;
    };

/** Connections per Postgres pool (one pool per process, plus one connection for the group commits of a master or `all`: a cluster of N nodes needs up to N × 11 of max_connections). */
const PG_POOL_MAX = 10;

async function openPostgres(url: string, log: Logger): Promise<Opened & { dialect: "postgres" }> {
  // Loaded here, not at the top: a SQLite process never needs the driver (see postgresRunner).
  const { openPgPool } = await import("./pg-pool.ts");
  const options = {
    connect_timeout: 10,
    // postgres.js runs its array-type query as the first statement of every new connection and
    // drops that promise: a connection cut during it (a Postgres restart) is an unhandled
    // rejection that ends the process (porsager/postgres#1192). Arrays go in as text cast in
    // SQL (attempt-sql.ts, schedule-fire-sql.ts) and none come back, so the types are not needed.
    fetch_types: false,
    onnotice: (notice: { message?: string }) => log.debug("postgres notice", { message: notice.message }),
  };
  const pool = openPgPool({ url, log, options: { ...options, max: PG_POOL_MAX } });
  let single: PgPool | null = null;
  try {
    await pool.sql`SELECT 1`;
  } catch (err) {
    await pool.end({ timeout: 1 }).catch(() => {});
    const reason = err instanceof Error ? err.message : String(err);
    throw new StoreError(`cannot reach Postgres at ${redactUrl(url)}: ${reason} — is it running, and is the URL right?`, err);
  }
  return {
    dialect: "postgres",
    client: pool.sql,
    pool,
    single: () => (single ??= openPgPool({ url, log, options: { ...options, max: 1, connection: { plan_cache_mode: "force_generic_plan" } } })),
    endSingle: async () => void (await single?.end({ timeout: 5 })),
  };
}

async function connect(url: string, log: Logger): Promise<Opened> {
  const target = parseTarget(url);
  return target.dialect === "sqlite" ? await openSqlite(target.path) : await openPostgres(target.url, log);
}

async function disconnect(conn: Opened): Promise<void> {
  if (conn.dialect === "sqlite") {
    await conn.checkpointer?.stop();
    finalizeStatements(conn.client);
    conn.client.close();
  }
  else await Promise.all([conn.pool.end({ timeout: 5 }), conn.endSingle()]);
}

function buildStore(conn: Opened, run: Runner, secretKey: string | null, stats: () => StoreStats, log: Logger): Store {
  let closed: Promise<void> | null = null;
  // The pool in use now (pg-pool.ts replaces it after a lost connection).
  const current = (): Connection => (conn.dialect === "postgres" ? { dialect: "postgres", client: conn.pool.sql } : conn);
  return {
    dialect: conn.dialect,
    users: createUserRepository(run),
    tokens: createTokenRepository(run),
    projects: createProjectRepository(run),
    members: createMemberRepository(run),
    workflows: createWorkflowRepository(run),
    audit: createAuditRepository(run),
    commands: createCommandRepository(run),
    instances: createInstanceRepository(run, log),
    taskInstances: createTaskInstanceRepository(run),
    datasources: createDatasourceRepository(run, { secretKey }),
    schedules: createScheduleRepository(run),
    backfills: createBackfillRepository(run),
    fenceWith: (nodeId) => setFenceNode(run.fence, nodeId),
    logChunks: createLogChunkRepository(run),
    cluster: createClusterRepository(run),
    retention: createRetentionRepository(run),
    workerTokens: createWorkerTokenRepository(run),
    edgeWorkers: createEdgeWorkerRepository(run),
    stats,
    refreshStatistics: async () => {
      if (conn.dialect !== "postgres") return [];
      const { refreshPlanStatistics } = await import("./plan-statistics.ts");
      return refreshPlanStatistics(conn.pool.sql).catch((err) => Promise.reject(toStoreError(err)));
    },
    alerts: { ...createAlertConfigRepository(run, { secretKey }), ...createAlertOutboxRepository(run) },
    ready: () =>
      run
        .exclusive(async () => {
          const missing = await missingMigrations(current());
          if (missing.length > 0) {
            throw new StoreError(`the database lacks migration${missing.length === 1 ? "" : "s"} ${missing.join(", ")}: run \`porpoise migrate\``);
          }
        })
        .catch((err) => Promise.reject(toStoreError(err))),
    close: () => (closed ??= run.exclusive(() => disconnect(conn))),
  };
}

/** The Postgres runner on whichever pool is current: each new pool gets its drizzle database on first use. */
async function pgRunner(pool: PgPool, single: () => PgPool): Promise<Runner> {
  const { drizzle } = await import("drizzle-orm/postgres-js");
  const dbs = new WeakMap<Sql, Db>();
  const drizzleOn = (sql: Sql): Db => {
    let d = dbs.get(sql);
    if (!d) dbs.set(sql, (d = drizzle(sql)));
    return d;
  };
  const db = (): Db => drizzleOn(pool.sql);
  const { pipelinedWriter } = await import("./pg-transaction.ts");
  let pipelined: (<T>(fn: (tx: Db) => Promise<T>) => Promise<T>) | null = null;
  return postgresRunner(db, await import("./schema-pg.ts"), (fn) => (pipelined ??= pipelinedWriter(single(), drizzleOn))(fn));
}

/**
 * `secretKey` (from config) encrypts datasource passwords at rest; without it they are stored
 * plainly (see datasources.ts).
 */
export async function openStore(opts: { url: string; migrate?: boolean; log?: Logger; secretKey?: string | null }): Promise<Store> {
  const log = opts.log ?? silentLogger;
  const conn = await connect(opts.url, log);
  try {
    if (opts.migrate !== false) await applyMigrations(conn, log);
  } catch (err) {
    await disconnect(conn).catch(() => {});
    throw toStoreError(err);
  }
  if (conn.dialect === "sqlite" && conn.path !== ":memory:") conn.checkpointer = new SqliteCheckpointer(conn.client, conn.path, log);
  const inner = conn.dialect === "sqlite" ? sqliteRunner(conn.client) : await pgRunner(conn.pool, conn.single);
  const pool = conn.dialect === "sqlite" ? { size: 1, renewals: () => 0 } : { size: PG_POOL_MAX, renewals: () => conn.pool.renewals };
  const { runner, stats } = countingRunner(inner, pool);
  return buildStore(conn, runner, opts.secretKey ?? null, stats, log);
}

/** Applies pending migrations and disconnects (`porpoise migrate`). */
export async function migrateDatabase(url: string, log: Logger = silentLogger): Promise<{ applied: string[] }> {
  const conn = await connect(url, log);
  try {
    return { applied: await applyMigrations(conn, log) };
  } catch (err) {
    throw toStoreError(err);
  } finally {
    await disconnect(conn).catch(() => {});
  }
}
