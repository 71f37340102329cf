// The cluster tests run the real `porpoise all` against a database they also open directly,
// so they can seed work before the process starts and read the outcome after it is killed.
// Process handling itself (output capture, waiting for lines, exit codes) is the CLI tests'
// `spawn` in ../integration/cli-process.ts; this adds only what the cluster tests share.

import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dialect, Store } from "../../src/store/store.ts";
import { generateToken, hashToken, tokenDisplayPrefix } from "../../src/api/tokens.ts";
import { freshDatabaseUrl } from "../helpers/stores.ts";
import { cleanEnv, fromSource, type Spawned, spawn } from "../integration/cli-process.ts";

export const READY = /porpoise all ready on/;

export { waitFor } from "../helpers/wait.ts";

export interface PorpoiseAll extends AsyncDisposable {
  /** The temp dir: the process's cwd, and free for marker files the tasks wait on. */
  readonly tmp: string;
  /** The Store URL of the database the process uses, for `openStore` in the test. */
  readonly url: string;
  /** Spawns `porpoise all` on this database and resolves once it is ready (killed if it is not within `readyTimeoutMs`, default 20 s). */
  start(readyTimeoutMs?: number): Promise<Spawned>;
}

/**
 * A temp dir and a database (a SQLite file in the dir, or a fresh Postgres database) for
 * `porpoise all`. Disposing removes the dir and drops the database: close any Store on it first.
 */
export async function porpoiseAll(dialect: Dialect, opts: { prefix: string; extraArgs?: string[] }): Promise<PorpoiseAll> {
  const tmp = mkdtempSync(join(tmpdir(), opts.prefix));
  // Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
  chmodSync(tmp, 0o711);
  const db = dialect === "postgres" ? await freshDatabaseUrl("postgres") : null;
  const url = db ? db.url : `sqlite:${join(tmp, "porpoise.db")}`;
  const args = ["all", "--port", "0", "--data-dir", join(tmp, "data"), "--db", db ? db.url : join(tmp, "porpoise.db"), "--shutdown-timeout", "2", ...(opts.extraArgs ?? [])];
  return {
    tmp,
    url,
    async start(readyTimeoutMs) {
      const p = spawn(fromSource(args), { cwd: tmp, env: cleanEnv() });
      try {
        await p.waitFor(READY, readyTimeoutMs);
      } catch (err) {
        await p[Symbol.asyncDispose]();
        throw err;
      }
      return p;
    },
    async [Symbol.asyncDispose]() {
      rmSync(tmp, { recursive: true, force: true });
      await db?.[Symbol.asyncDispose]();
    },
  };
}

/** The admin user "alice" and project "etl" every cluster test seeds its work under. */
export async function seedProject(store: Store) {
  const user = await store.users.create({ name: "alice", passwordHash: null, isAdmin: true }, { userId: null, userName: "test" });
  const actor = { userId: user.id, userName: user.name };
  const project = await store.projects.create({ name: "etl", description: "", ownerId: user.id }, actor);
  return { user, actor, project };
}

/** seedProject plus an API token of "alice", for tests that drive the process over HTTP. */
export async function seedProjectWithToken(store: Store) {
  const seeded = await seedProject(store);
  const token = generateToken();
  await store.tokens.create({ userId: seeded.user.id, name: "test", kind: "api", tokenHash: hashToken(token), prefix: tokenDisplayPrefix(token), expiresAt: null }, seeded.actor);
  return { ...seeded, token };
}
