// First start: with no users yet, create `admin` and an API token for it, keep it
// in <dataDir>/admin-token (mode 0600) and show it once on the terminal. A token
// preset by the operator (PORPOISE_ADMIN_TOKEN) is installed instead of a random
// one, and on later starts it is added if missing, so automation can always
// reach the API with the token it already knows. A token is never printed
// twice: a preset one not at all (the operator has it; logs are often shipped).
// "The terminal" is stderr when it is a TTY (main.ts): in a container or under a
// supervisor stdout and stderr are collected and shipped, so there the token is
// only in the file (or, without a data dir, nowhere: preset one instead).

import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, ConflictError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Actor, NewToken, Store } from "../store/store.ts";
import { checkPasswordLength, hashPassword } from "./passwords.ts";
import { generateToken, hashToken, presetTokenProblem, tokenDisplayPrefix } from "./tokens.ts";

export const ADMIN_USER = "admin";
export const ADMIN_TOKEN_FILE = "admin-token";

const SYSTEM: Actor = { userId: null, userName: "system" };

export interface BootstrapOptions {
  store: Store;
  dataDir: string | null;
  presetToken?: string;
  adminPassword?: string;
  log: Logger;
  /** Lines for the operator that hold no secret. */
  print: (line: string) => void;
  /**
   * Where the generated token may be shown: a terminal (stderr when it is a TTY). null: none —
   * the token goes only to the file. Absent: `print` (callers that collect the lines themselves).
   */
  terminal?: ((line: string) => void) | null;
}

/** Returns the token created on this start, or null when none was. */
export async function bootstrapAdmin(opts: BootstrapOptions): Promise<{ token: string | null }> {
  const { store, presetToken, adminPassword, log } = opts;
  if (presetToken !== undefined) {
    const problem = presetTokenProblem(presetToken);
    if (problem) throw new ConfigError(`the preset admin token ${problem}`, [{ path: "adminToken", message: problem }]);
  }
  if (adminPassword !== undefined) checkPasswordLength(adminPassword, "adminPassword");

  if (!(await store.users.any())) {
    const passwordHash = adminPassword === undefined ? null : await hashPassword(adminPassword);
    try {
      const token = presetToken ?? generateToken();
      // User and token in one transaction: a crash in between must not leave an admin nobody can reach.
      await store.users.create({ name: ADMIN_USER, passwordHash, isAdmin: true, token: bootstrapToken(token) }, SYSTEM);
      await announce(opts, token, presetToken !== undefined, passwordHash !== null);
      return { token };
    } catch (err) {
      // Another process sharing the database bootstrapped first; carry on as a later start.
      if (!(err instanceof ConflictError)) throw err;
      log.info("admin user was created by another process");
    }
  }

  if (presetToken === undefined || (await store.tokens.exists(hashToken(presetToken)))) return { token: null };
  const admin = await store.users.getByName(ADMIN_USER);
  if (!admin || !admin.isAdmin) {
    log.warn(`preset admin token not installed: there is no administrator named "${ADMIN_USER}"`);
    return { token: null };
  }
  try {
    await addToken(store, admin.id, presetToken);
  } catch (err) {
    // Installed by another process between the check and the insert: the goal is met.
    if (!(err instanceof ConflictError) || !(await store.tokens.exists(hashToken(presetToken)))) throw err;
    return { token: null };
  }
  log.info("preset admin token added to user admin", { prefix: tokenDisplayPrefix(presetToken) });
  return { token: presetToken };
}

function bootstrapToken(token: string): NewToken {
  return { name: "bootstrap", kind: "api", tokenHash: hashToken(token), prefix: tokenDisplayPrefix(token), expiresAt: null };
}

async function addToken(store: Store, userId: number, token: string): Promise<void> {
  await store.tokens.create({ ...bootstrapToken(token), userId }, SYSTEM);
}

async function announce(opts: BootstrapOptions, token: string, preset: boolean, hasPassword: boolean): Promise<void> {
  const file = opts.dataDir === null ? null : join(opts.dataDir, ADMIN_TOKEN_FILE);
  if (file !== null) {
    await mkdir(opts.dataDir!, { recursive: true, mode: 0o700 });
    await writeFile(file, token + "\n", { mode: 0o600 });
    // `mode` only applies when the file is created; a leftover file keeps its old one.
    await chmod(file, 0o600);
  }
  const where = file === null ? "no copy is kept (no data directory)" : `a copy is in ${file} (mode 0600)`;
  const terminal = opts.terminal === undefined ? opts.print : opts.terminal;
  if (preset) {
    opts.print(`Created user "${ADMIN_USER}" with the preset admin API token; ${where}.`);
  } else if (terminal !== null) {
    terminal(`Created user "${ADMIN_USER}". Admin API token (shown only once; ${where}):`);
    terminal(`  ${token}`);
  } else if (file !== null) {
    opts.print(`Created user "${ADMIN_USER}". Its admin API token is in ${file} (mode 0600); it is not printed because no terminal is attached (output here may be shipped as logs).`);
  } else {
    opts.print(
      `Created user "${ADMIN_USER}" with a random API token that is not shown: no terminal is attached and there is no data directory to keep it in. ` +
        `Restart with PORPOISE_ADMIN_TOKEN set (32+ characters) to add a token you know.`,
    );
  }
  if (!hasPassword) {
    opts.print(`User "${ADMIN_USER}" has no password, so password login is off until one is set (PUT /api/v1/users/admin/password).`);
  }
}
