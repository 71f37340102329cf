// Fresh, isolated stores for tests (graphile-worker style): every Postgres store is a new
// database cloned from a template that was migrated once per migration set, every SQLite
// store a new file in its own temp dir. Disposing closes and removes it.
//
//   await using store = await freshStore("postgres");

import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { DEFAULT_POSTGRES_URL, DEFAULT_REDIS_URL } from "../../scripts/test-services.ts";
import { migrations } from "../../src/store/migrations.ts";
import { migrateDatabase, openStore } from "../../src/store/open.ts";
import type { Dialect, Store } from "../../src/store/store.ts";

export const dialects: Dialect[] = ["sqlite", "postgres"];

/** The Postgres server tests use (the preload points DATABASE_URL at a throwaway one if needed). */
export function testPostgresUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_POSTGRES_URL;
}

export function testRedisUrl(): string {
  return process.env.REDIS_URL || DEFAULT_REDIS_URL;
}

/** How the template is made; change it to force new templates everywhere. */
const TEMPLATE_RECIPE = "C-collation-1";
/** Templates are named after the migrations they contain, so any change builds a new one. */
const templateName = `porpoise_tpl_${new Bun.CryptoHasher("sha256")
  .update([TEMPLATE_RECIPE, ...migrations.postgres.map((m) => m.checksum)].join(","))
  .digest("hex")
  .slice(0, 16)}`;
const STALE_TEMPLATE_MS = 60 * 60 * 1000;
let databaseCounter = 0;
let template: Promise<string> | null = null;

function databaseUrl(name: string): string {
  const url = new URL(testPostgresUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(testPostgresUrl(), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Drops databases left by test processes that died before disposing them, and old templates. */
async function pruneLeftovers(sql: postgres.Sql): Promise<void> {
  const rows = await sql<{ datname: string; note: string | null }[]>`
    SELECT datname, shobj_description(oid, 'pg_database') AS note FROM pg_database
    WHERE datname LIKE 'porpoise\\_test\\_%' OR (datname LIKE 'porpoise\\_tpl\\_%' AND datname <> ${templateName})`;
  for (const { datname, note } of rows) {
    const pid = /^porpoise_test_(\d+)_/.exec(datname)?.[1];
    const builtAt = Date.parse(/built (\S+)/.exec(note ?? "")?.[1] ?? "");
    const stale = pid ? !processAlive(Number(pid)) : !(Date.now() - builtAt < STALE_TEMPLATE_MS);
    if (!stale) continue;
    await sql.unsafe(`ALTER DATABASE "${datname}" IS_TEMPLATE false`).catch(() => {});
    await sql.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
  }
}

/** Builds the migrated template once; an advisory lock keeps concurrent test runs from racing. */
function ensureTemplate(): Promise<string> {
  template ??= withAdmin(async (sql) => {
    const [lock] = await sql`SELECT pg_advisory_lock(hashtext('porpoise.test-template')) AS locked`;
    try {
      const [exists] = await sql`SELECT 1 FROM pg_database WHERE datname = ${templateName}`;
      if (!exists) {
        const building = `${templateName}_build_${process.pid}`;
        await sql.unsafe(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
        // C collation: the same ORDER BY on every server, and the same as SQLite's BINARY.
        await sql.unsafe(`CREATE DATABASE "${building}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
        await migrateDatabase(databaseUrl(building));
        await sql.unsafe(`ALTER DATABASE "${building}" RENAME TO "${templateName}"`);
        await sql.unsafe(`ALTER DATABASE "${templateName}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
        await sql.unsafe(`COMMENT ON DATABASE "${templateName}" IS 'porpoise test template, built ${new Date().toISOString()}'`);
      }
      await pruneLeftovers(sql);
    } finally {
      if (lock) await sql`SELECT pg_advisory_unlock(hashtext('porpoise.test-template'))`;
    }
    return templateName;
  }).catch((err) => {
    template = null;
    throw err;
  });
  return template;
}

async function createDatabase(fromTemplate: string | null): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `porpoise_test_${process.pid}_${++databaseCounter}_${Math.random().toString(36).slice(2, 8)}`;
  await withAdmin(async (sql) => {
    await sql.unsafe(`CREATE DATABASE "${name}"${fromTemplate ? ` TEMPLATE "${fromTemplate}"` : ""}`);
    // Commits need not wait for the disk: a test database never outlives a crash of its server.
    // On a server with fsync on (a developer's), this took ~40% off every Postgres test.
    await sql.unsafe(`ALTER DATABASE "${name}" SET synchronous_commit = off`);
  });
  return {
    name,
    url: databaseUrl(name),
    drop: () => withAdmin(async (sql) => void (await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

type CreatedDatabase = Awaited<ReturnType<typeof createDatabase>>;

// CREATE DATABASE … TEMPLATE is most of what a Postgres test costs on its own (130-280 ms of
// copying and WAL on 2 shared cores). One clone is kept ready: each freshStore takes it and
// starts the next, so the copy overlaps the test that runs meanwhile. Still a new database
// per store, so nothing is shared between tests.
let spare: Promise<CreatedDatabase> | null = null;

async function templateClone(): Promise<CreatedDatabase> {
  const tpl = await ensureTemplate();
  const ready = spare;
  spare = createDatabase(tpl);
  spare.catch(() => {}); // a failed spare is replaced below, when someone needs it
  // A spare that failed (the server restarted meanwhile) is made again, now, with its error.
  return ready ? await ready.catch(() => createDatabase(tpl)) : await createDatabase(tpl);
}

/** Drops the ready clone (the preload calls this after the last test file). */
export async function dropSpareDatabase(): Promise<void> {
  const pending = spare;
  spare = null;
  const db = await pending?.catch(() => null);
  await db?.drop();
}

/** An empty, unmigrated database; disposing removes it. */
export async function freshDatabaseUrl(dialect: Dialect): Promise<{ url: string } & AsyncDisposable> {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "porpoise-sqlite-"));
    return { url: `sqlite:${join(dir, "store.db")}`, [Symbol.asyncDispose]: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const db = await createDatabase(null);
  return { url: db.url, [Symbol.asyncDispose]: db.drop };
}

/** A store from freshStore; `url` reaches its database directly (see rawQuery). */
export type TestStore = Store & AsyncDisposable & { url: string };

/** A migrated store of its own; disposing closes it and removes its database. */
export async function freshStore(dialect: Dialect): Promise<TestStore> {
  if (dialect === "sqlite") {
    const target = await freshDatabaseUrl("sqlite");
    const store = await openStore({ url: target.url });
    return Object.assign(store, {
      url: target.url,
      [Symbol.asyncDispose]: async () => {
        await store.close();
        await target[Symbol.asyncDispose]();
      },
    });
  }
  const db = await templateClone();
  const store = await openStore({ url: db.url }).catch(async (err) => {
    await db.drop();
    throw err;
  });
  return Object.assign(store, {
    url: db.url,
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await db.drop();
    },
  });
}

/**
 * Runs SQL on a test database over its own connection, behind the store's back — to set up
 * rows the store has no method for yet, or to break things on purpose. Placeholders: `?` on
 * SQLite, `$1…` on Postgres.
 */
export async function rawQuery(url: string, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (url.startsWith("sqlite:")) {
    const db = new Database(url.slice("sqlite:".length));
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      return db.query(text).all(...(params as never[])) as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return [...(await sql.unsafe(text, params as never[]))];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs a script of one or more statements (no parameters, no result) on a test database. */
export async function rawExec(url: string, script: string): Promise<void> {
  if (url.startsWith("sqlite:")) {
    const db = new Database(url.slice("sqlite:".length));
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec(script);
    } finally {
      db.close();
    }
    return;
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(script).simple();
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export type SlotLeaseRow = { owner: string | null; epoch: number; expiresInMs: number };

/** Sets the lease row of `slot` (Postgres; expiry on the database clock), as a coordinator would hold it. */
export async function setLease(store: TestStore, slot: number, lease: SlotLeaseRow): Promise<void> {
  await rawQuery(
    store.url,
    `INSERT INTO slot_leases (slot, owner, epoch, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4::float8 / 1000))
     ON CONFLICT (slot) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at`,
    [slot, lease.owner, lease.epoch, lease.expiresInMs],
  );
}
