// First-start bootstrap: the admin user, its token shown once and kept in a
// 0600 file, and the preset token for automation.

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../../src/api/app.ts";
import { bootstrapAdmin } from "../../../src/api/bootstrap.ts";
import { ConfigError, ValidationError } from "../../../src/core/errors.ts";
import { silentLogger } from "../../../src/core/log.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";

const PRESET = "preset-token-for-automation-0123456789abcdef";

function tempDir(): string & Disposable {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-bootstrap-"));
  return Object.assign(dir, { [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) }) as string & Disposable;
}

async function whoAmI(store: Store, token: string): Promise<number> {
  const app = createApp({ store, log: silentLogger });
  const res = await app.request("/api/v1/me", { headers: { authorization: `Bearer ${token}` } });
  return res.status;
}

async function tokenCount(store: Store): Promise<number> {
  const admin = await store.users.getByName("admin");
  return admin ? (await store.tokens.listForUser(admin.id)).length : 0;
}

describe.each(dialects)("bootstrapAdmin on %s", (dialect) => {
  test("first start: admin, a random token printed once, a 0600 file in a new data dir", async () => {
    await using store = await freshStore(dialect);
    using root = tempDir();
    const dataDir = join(root, "nested", "data");
    const printed: string[] = [];
    const { token } = await bootstrapAdmin({ store, dataDir, log: silentLogger, print: (l) => printed.push(l) });

    expect(token).toMatch(/^pp_[A-Za-z0-9_-]{43}$/);
    const file = join(dataDir, "admin-token");
    expect(readFileSync(file, "utf8")).toBe(`${token}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(printed.filter((l) => l.includes(token!))).toHaveLength(1);
    expect(printed.join("\n")).toMatch(/shown only once/);
    expect(printed.join("\n")).toContain(file);
    expect(await store.users.getByName("admin")).toMatchObject({ isAdmin: true, hasPassword: false, disabled: false });
    expect(await whoAmI(store, token!)).toBe(200);

    // Later starts print nothing, create nothing and leave the file alone.
    const again: string[] = [];
    expect(await bootstrapAdmin({ store, dataDir, log: silentLogger, print: (l) => again.push(l) })).toEqual({ token: null });
    expect(again).toEqual([]);
    expect(await tokenCount(store)).toBe(1);
    expect(readFileSync(file, "utf8")).toBe(`${token}\n`);
  });

  test("a preset token is installed on first start and never printed", async () => {
    await using store = await freshStore(dialect);
    using dataDir = tempDir();
    const printed: string[] = [];
    const { token } = await bootstrapAdmin({ store, dataDir, presetToken: PRESET, log: silentLogger, print: (l) => printed.push(l) });
    expect(token).toBe(PRESET);
    expect(printed.join("\n")).not.toContain(PRESET);
    expect(printed.join("\n")).toMatch(/preset/);
    expect(statSync(join(dataDir, "admin-token")).mode & 0o777).toBe(0o600);
    expect(await whoAmI(store, PRESET)).toBe(200);
    expect(await bootstrapAdmin({ store, dataDir, presetToken: PRESET, log: silentLogger, print: (l) => printed.push(l) })).toEqual({ token: null });
    expect(await tokenCount(store)).toBe(1);
  });

  test("a preset token given after the first start is added to admin once, silently", async () => {
    await using store = await freshStore(dialect);
    const printed: string[] = [];
    const first = await bootstrapAdmin({ store, dataDir: null, log: silentLogger, print: (l) => printed.push(l) });
    const count = printed.length;
    expect(await whoAmI(store, PRESET)).toBe(401);

    const added = await bootstrapAdmin({ store, dataDir: null, presetToken: PRESET, log: silentLogger, print: (l) => printed.push(l) });
    expect(added).toEqual({ token: PRESET });
    expect(printed).toHaveLength(count);
    expect(await whoAmI(store, PRESET)).toBe(200);
    expect(await whoAmI(store, first.token!)).toBe(200);
    // Idempotent: the same preset again adds nothing.
    expect(await bootstrapAdmin({ store, dataDir: null, presetToken: PRESET, log: silentLogger, print: (l) => printed.push(l) })).toEqual({ token: null });
    expect(await tokenCount(store)).toBe(2);
  });

  test("without a data dir the token is printed and no file is written; with a password admin can log in", async () => {
    await using store = await freshStore(dialect);
    const printed: string[] = [];
    const { token } = await bootstrapAdmin({ store, dataDir: null, adminPassword: "admin-password", log: silentLogger, print: (l) => printed.push(l) });
    expect(printed.filter((l) => l.includes(token!))).toHaveLength(1);
    expect(printed.join("\n")).toMatch(/no copy is kept/);
    expect(printed.join("\n")).not.toMatch(/no password/);
    const app = createApp({ store, log: silentLogger });
    const login = await app.request("/api/v1/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "admin", password: "admin-password" }),
    });
    expect(login.status).toBe(200);
  });

  test("a leftover token file is overwritten with mode 0600", async () => {
    await using store = await freshStore(dialect);
    using dataDir = tempDir();
    const file = join(dataDir, "admin-token");
    writeFileSync(file, "stale\n");
    chmodSync(file, 0o644);
    const { token } = await bootstrapAdmin({ store, dataDir, log: silentLogger, print: () => {} });
    expect(readFileSync(file, "utf8")).toBe(`${token}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("a weak preset token or a short password is refused before anything is created", async () => {
    await using store = await freshStore(dialect);
    using dataDir = tempDir();
    const base = { store, dataDir, log: silentLogger, print: () => {} };
    await expect(bootstrapAdmin({ ...base, presetToken: "short" })).rejects.toBeInstanceOf(ConfigError);
    await expect(bootstrapAdmin({ ...base, presetToken: "x".repeat(40) + " spaces" })).rejects.toThrow(/may only contain/);
    await expect(bootstrapAdmin({ ...base, adminPassword: "1234567" })).rejects.toBeInstanceOf(ValidationError);
    expect(await store.users.any()).toBe(false);
    expect(existsSync(join(dataDir, "admin-token"))).toBe(false);
  });

  test("two processes bootstrapping at once make one admin and one printed token", async () => {
    await using store = await freshStore(dialect);
    const printed: string[] = [];
    const run = () => bootstrapAdmin({ store, dataDir: null, log: silentLogger, print: (l) => printed.push(l) });
    const results = await Promise.all([run(), run(), run()]);
    const tokens = results.map((r) => r.token).filter((t) => t !== null);
    expect(tokens).toHaveLength(1);
    expect(printed.filter((l) => l.includes(tokens[0]!))).toHaveLength(1);
    expect((await store.users.list({ limit: 10, offset: 0 })).total).toBe(1);
    expect(await tokenCount(store)).toBe(1);
  });

  test("no terminal (a container's output is shipped as logs): the token goes to the file only, never to a printed line", async () => {
    await using store = await freshStore(dialect);
    using dataDir = tempDir();
    const printed: string[] = [];
    const { token } = await bootstrapAdmin({ store, dataDir, log: silentLogger, print: (l) => printed.push(l), terminal: null });
    expect(readFileSync(join(dataDir, "admin-token"), "utf8")).toBe(`${token}\n`);
    expect(printed.join("\n")).not.toContain(token!);
    expect(printed.join("\n")).toContain(`Its admin API token is in ${join(dataDir, "admin-token")} (mode 0600); it is not printed`);
    expect(await whoAmI(store, token!)).toBe(200);
  });

  test("a terminal gets the token once, the printed lines (stdout) never; without a data dir and a terminal it is shown nowhere", async () => {
    await using store = await freshStore(dialect);
    const printed: string[] = [];
    const shown: string[] = [];
    const { token } = await bootstrapAdmin({ store, dataDir: null, log: silentLogger, print: (l) => printed.push(l), terminal: (l) => shown.push(l) });
    expect(shown.filter((l) => l.includes(token!))).toHaveLength(1);
    expect(printed.join("\n")).not.toContain(token!);

    await using other = await freshStore(dialect);
    const lines: string[] = [];
    const second = await bootstrapAdmin({ store: other, dataDir: null, log: silentLogger, print: (l) => lines.push(l), terminal: null });
    expect(lines.join("\n")).not.toContain(second.token!);
    expect(lines.join("\n")).toContain("Restart with PORPOISE_ADMIN_TOKEN set");
  });
});
