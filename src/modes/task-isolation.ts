// What a process that runs tasks sets up at start so tasks cannot reach porpoise's secrets
// (docs/architecture.md §3.9, README "Tenants / run-as user"):
//
// - the data dir 0700 and what lies directly in it 0600 (files) / 0700 (dirs): the database,
//   admin-token, secret-key, logs. Fixed on every start, so a data dir made by an older release
//   (porpoise.db was 0644, logs 0755) is closed too. Deeper entries need no walk: a 0700 parent
//   already keeps everyone else out;
// - an SQLite store outside the data dir (--db /elsewhere/x.db): its file and -wal/-shm 0600;
// - the work dir 0711: task users enter their own attempt's dir by name, but cannot list it;
// - who tasks run as (worker/run-as.ts). Not root: one warning, since tasks can then read
//   everything porpoise can.

import { chmod, lstat, mkdir, readdir, stat } from "node:fs/promises";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import type { Config } from "../config.ts";
import { ConfigError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { canSwitchUsers, createIdentityResolver, type IdentityResolver, type OsUser } from "../worker/run-as.ts";

export const NOT_ROOT_WARNING =
  "tasks are NOT isolated from porpoise: it runs as a non-root user, so shell and python tasks run as that same user and can read " +
  "its data directory (database, admin token, secret key) and environment. Run porpoise as root to have tasks run as --task-user " +
  '(default nobody) or their project\'s tenant; see "Tenants / run-as user" in the README';

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

async function chmodIfExists(path: string, mode: number): Promise<void> {
  try {
    await chmod(path, mode);
  } catch (err) {
    if (!isCode(err, "ENOENT")) throw err;
  }
}

/** chmod 0700 the data dir, 0600/0700 its direct entries (links are left alone: chmod would follow them). */
export async function secureDataDir(dataDir: string): Promise<void> {
  await chmod(dataDir, 0o700);
  const names = await readdir(dataDir);
  await Promise.all(
    names.map(async (name) => {
      const path = join(dataDir, name);
      const st = await lstat(path).catch(() => null);
      if (st === null || st.isSymbolicLink()) return;
      if (st.isDirectory()) await chmodIfExists(path, 0o700);
      else if (st.isFile()) await chmodIfExists(path, 0o600);
    }),
  );
}

/** The SQLite file and its -wal/-shm/-journal 0600 (SQLite makes them 0644, and they may live outside the data dir). */
export async function secureStoreFiles(db: Config["db"]): Promise<void> {
  if (db.dialect !== "sqlite" || db.url === "sqlite::memory:") return;
  const path = db.url.slice("sqlite:".length);
  await Promise.all(["", "-wal", "-shm", "-journal"].map((suffix) => chmodIfExists(path + suffix, 0o600)));
}

export function currentOsUser(): OsUser {
  const uid = process.getuid?.() ?? -1;
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {}
  return { name, uid, gid: process.getgid?.() ?? -1 };
}

/**
 * Prepares the work dir and returns who tasks run as. Refuses to start (ConfigError) when, as
 * root, the default task user is root itself without --allow-root-tasks.
 */
export async function prepareTaskIsolation(opts: { config: Config; log: Logger; self?: OsUser }): Promise<IdentityResolver> {
  const { config, log } = opts;
  const self = opts.self ?? currentOsUser();
  await mkdir(config.workDir, { recursive: true, mode: 0o711 });
  await chmod(config.workDir, 0o711);
  const identity = createIdentityResolver({ self, defaultUser: config.taskUser, allowRoot: config.allowRootTasks });
  if (!canSwitchUsers(self)) {
    log.warn(NOT_ROOT_WARNING, { uid: self.uid, user: self.name });
    return identity;
  }
  const probe = await identity(null);
  if (!probe.ok) {
    if (probe.reason === "root") throw new ConfigError(`--task-user ${config.taskUser}: ${probe.message}`, [{ path: "taskUser", message: probe.message }]);
    log.warn(`${probe.message}; until then, tasks of projects without a tenant fail`);
  } else {
    log.info(`tasks run as their project's tenant, else as "${probe.runAs.name}" (uid ${probe.runAs.uid}); work dir ${config.workDir}`);
  }
  // Root tasks (--task-user root --allow-root-tasks) reach any directory: nothing to check.
  const blocked = probe.ok && probe.runAs.uid === 0 ? null : await closedAncestor(config.workDir);
  if (blocked !== null) {
    const message =
      `task users cannot reach the work dir ${config.workDir}: ${blocked.path} is mode ${blocked.mode.toString(8).padStart(4, "0")} (others may not enter it), so every shell and python task would fail. ` +
      `Pass --work-dir with a directory whose parents others may enter (e.g. /var/lib/porpoise-work), or chmod o+x ${blocked.path}`;
    throw new ConfigError(message, [{ path: "workDir", message }]);
  }
  return identity;
}

// A task user must be able to enter every directory above the work dir (o+x): a data dir in a
// 0700 home or mkdtemp directory puts its sibling work dir out of their reach.
async function closedAncestor(workDir: string): Promise<{ path: string; mode: number } | null> {
  for (let dir = dirname(workDir); ; dir = dirname(dir)) {
    const mode = (await stat(dir)).mode & 0o7777;
    if ((mode & 0o001) === 0) return { path: dir, mode };
    if (dir === dirname(dir)) return null;
  }
}
