import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "../../../src/core/errors.ts";
import { migrations } from "../../../src/store/migrations.ts";
import { migrateDatabase, openStore } from "../../../src/store/open.ts";
import { dialects, freshDatabaseUrl, rawExec, rawQuery } from "../../helpers/stores.ts";

const root = join(import.meta.dir, "../../../migrations");
const allNames = (dialect: string) => migrations[dialect as keyof typeof migrations].map((m) => m.name);

async function tablesOf(url: string): Promise<string[]> {
  const rows = url.startsWith("sqlite:")
    ? await rawQuery(url, "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY name")
    : await rawQuery(url, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  return rows.map((r) => String(r.name));
}

describe("embedded migrations", () => {
  // Numbers may have gaps (each piece of work reserves its own); they only have to ascend.
  test.each(dialects)("every file in migrations/%s is embedded, numbered in ascending order, byte for byte", async (dialect) => {
    const files = readdirSync(join(root, dialect)).sort();
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(f).toMatch(/^\d{4}_[a-z0-9_]+\.sql$/);
    expect(allNames(dialect)).toEqual(files);
    expect(migrations[dialect].map((m) => m.id)).toEqual(files.map((f) => Number.parseInt(f, 10)));
    expect(new Set(files.map((f) => Number.parseInt(f, 10))).size).toBe(files.length);
    for (const m of migrations[dialect]) expect(m.sql).toBe(await Bun.file(join(root, dialect, m.name)).text());
  });

  test("both dialects have the same migrations, so a schema version means the same on each", () => {
    expect(allNames("sqlite")).toEqual(allNames("postgres"));
  });
});

describe.each(dialects)("migrating %s", (dialect) => {
  test("a fresh database gets every migration once; running again applies nothing", async () => {
    await using db = await freshDatabaseUrl(dialect);
    expect(await migrateDatabase(db.url)).toEqual({ applied: allNames(dialect) });
    expect(await migrateDatabase(db.url)).toEqual({ applied: [] });
    const rows = await rawQuery(db.url, "SELECT id, name, checksum FROM porpoise_migrations ORDER BY id");
    expect(rows.map((r) => [Number(r.id), r.name, r.checksum])).toEqual(migrations[dialect].map((m) => [m.id, m.name, m.checksum]));
    const store = await openStore({ url: db.url });
    await store.ready();
    await store.close();
  });

  test("an applied migration whose file was edited is refused, saying so", async () => {
    await using db = await freshDatabaseUrl(dialect);
    await migrateDatabase(db.url);
    const store = await openStore({ url: db.url });
    await rawExec(db.url, "UPDATE porpoise_migrations SET checksum = 'abc123' WHERE id = 1");
    const message = /migration 0001_init\.sql was edited after it was applied to this database \(checksum applied abc123…, embedded [0-9a-f]{12}…\): migrations are forward-only/;
    await expect(migrateDatabase(db.url)).rejects.toThrow(message);
    await expect(openStore({ url: db.url })).rejects.toBeInstanceOf(StoreError);
    await expect(store.ready()).rejects.toThrow(message);
    await store.close();
  });

  test("a database migrated by a newer porpoise is refused, saying which migration is unknown", async () => {
    await using db = await freshDatabaseUrl(dialect);
    await migrateDatabase(db.url);
    await rawExec(db.url, "INSERT INTO porpoise_migrations (id, name, checksum, applied_at) VALUES (9999, '9999_future.sql', 'x', CURRENT_TIMESTAMP)".replace(
      "CURRENT_TIMESTAMP",
      dialect === "sqlite" ? "0" : "now()",
    ));
    await expect(openStore({ url: db.url })).rejects.toThrow(
      "the database has migration 9999_future.sql applied, which this porpoise does not know",
    );
  });

  test("ready() fails on an unmigrated database, naming what is missing, and passes once migrated", async () => {
    await using db = await freshDatabaseUrl(dialect);
    const store = await openStore({ url: db.url, migrate: false });
    await expect(store.ready()).rejects.toThrow(`the database lacks migrations ${allNames(dialect).join(", ")}: run \`porpoise migrate\``);
    await migrateDatabase(db.url);
    await store.ready();
    await store.close();
  });

  test("a migration that fails applies nothing at all", async () => {
    await using db = await freshDatabaseUrl(dialect);
    await rawExec(db.url, dialect === "sqlite" ? "CREATE TABLE users (x INTEGER)" : "CREATE TABLE users (x integer)");
    const attempt = migrateDatabase(db.url);
    await expect(attempt).rejects.toBeInstanceOf(StoreError);
    await expect(attempt).rejects.toThrow(/^migration 0001_init\.sql failed: .*users.* \(nothing was applied; the database is unchanged\)$/);
    expect(await tablesOf(db.url)).toEqual(["users"]);
  });

  test("two processes starting at the same moment both come up; the migration is applied once", async () => {
    await using db = await freshDatabaseUrl(dialect);
    const child = join(import.meta.dir, "migrate-child.ts");
    const procs = [0, 1].map(() =>
      Bun.spawn([process.execPath, child, db.url], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: process.env }),
    );
    const outputs = procs.map((p) => collectLines(p.stdout));
    await Promise.all(outputs.map((o) => o.waitFor("ready")));
    for (const p of procs) {
      p.stdin.write("go\n");
      await p.stdin.end();
    }
    const codes = await Promise.all(procs.map((p) => p.exited));
    const stderr = await Promise.all(procs.map((p) => new Response(p.stderr).text()));
    expect({ codes, stderr }).toEqual({ codes: [0, 0], stderr: ["", ""] });
    const applied = (await Promise.all(outputs.map((o) => o.done))).map((lines) => lines.at(-1)).sort();
    expect(applied).toEqual([JSON.stringify([]), JSON.stringify(allNames(dialect))].sort());
  }, 30_000);
});

function collectLines(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  const done = (async () => {
    let buffer = "";
    for await (const chunk of stream) {
      buffer += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        for (const w of waiters.filter((w) => lines.includes(w.text))) w.resolve();
      }
    }
    return lines;
  })();
  return {
    done,
    waitFor: (text: string) =>
      lines.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve })),
  };
}
