import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, StoreError } from "../../../src/core/errors.ts";
import { openStore, redactUrl } from "../../../src/store/open.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { system } from "./fixtures.ts";

async function closedPort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

describe("openStore", () => {
  test.each(["mysql://localhost/x", "sqlite:", "file:data.db", ""])("rejects the URL %p with a ConfigError saying what works", async (url) => {
    const attempt = openStore({ url });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/sqlite:<path>/);
  });

  test("an unreachable Postgres is a StoreError naming the server, without the password", async () => {
    const url = `postgres://porpoise:s3cret@127.0.0.1:${await closedPort()}/nowhere`;
    const attempt = openStore({ url });
    await expect(attempt).rejects.toBeInstanceOf(StoreError);
    const err = (await attempt.catch((e: unknown) => e)) as Error;
    expect(err.message).toStartWith(`cannot reach Postgres at ${url.replace("s3cret", "***")}: `);
    expect(err.message).not.toContain("s3cret");
  });

  test("redactUrl hides only the password", () => {
    expect(redactUrl("postgres://u:p%40ss@h:5432/db")).toBe("postgres://u:***@h:5432/db");
    expect(redactUrl("postgres://u@h/db")).toBe("postgres://u@h/db");
    expect(redactUrl("sqlite:./data/porpoise.db")).toBe("sqlite:./data/porpoise.db");
  });

  test("sqlite: creates missing parent directories, uses WAL, and works in memory too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "porpoise-open-"));
    try {
      const path = join(dir, "nested", "deeper", "porpoise.db");
      const store = await openStore({ url: `sqlite:${path}` });
      await store.users.create({ name: "admin", passwordHash: null, isAdmin: true }, system);
      await store.close();
      expect(existsSync(`${path}-wal`) || existsSync(path)).toBe(true);
      const again = await openStore({ url: `sqlite://${path}` });
      expect(await again.users.any()).toBe(true);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const memory = await openStore({ url: "sqlite::memory:" });
    await memory.ready();
    expect(await memory.users.any()).toBe(false);
    await memory.close();
  });
});

describe.each(dialects)("store lifecycle on %s", (dialect) => {
  test("ready() passes on a migrated store; after close() it fails and close() may be called again", async () => {
    await using store = await freshStore(dialect);
    await store.ready();
    await store.close();
    await expect(store.ready()).rejects.toBeInstanceOf(StoreError);
    await store.close();
  });

  test("many concurrent reads and writes all land, none interleaving into another's transaction", async () => {
    await using store = await freshStore(dialect);
    const admin = await store.users.create({ name: "admin", passwordHash: null, isAdmin: true }, system);
    const ops = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? store.projects.create({ name: `p${i}`, description: "", ownerId: admin.id }, system)
        : store.projects.listForUser(admin.id, true, { limit: 100, offset: 0 }),
    );
    await Promise.all(ops);
    const all = await store.projects.listForUser(admin.id, false, { limit: 100, offset: 0 });
    expect(all.total).toBe(20);
    expect((await store.audit.list({ limit: 100, offset: 0 })).total).toBe(21);
  });
});
