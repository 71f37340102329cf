// The key that encrypts datasource passwords at rest (store/datasources.ts). Cluster nodes share
// --secret. `porpoise all` uses --secret when given; otherwise it makes a random key on first
// start and keeps it in <dataDir>/secret-key (0600), next to the database it protects, so a
// restart on the same directory reads what it wrote. The key is never printed or logged.
//
// Losing the file loses the stored passwords, not the datasources: a new key is made, and
// using a datasource then fails with "the configured secret key is not the one it was written
// with" until its password is set again (PUT …/datasources/:name).

import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PorpoiseError } from "../core/errors.ts";

export const SECRET_KEY_FILE = "secret-key";

/** `secret` when set; else the data directory's key, made on first use. */
export async function resolveSecretKey(opts: { secret: string | null; dataDir: string }): Promise<string> {
  if (opts.secret !== null) return opts.secret;
  const file = join(opts.dataDir, SECRET_KEY_FILE);
  const existing = await readKey(file);
  if (existing !== null) return existing;
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  try {
    // wx: never replace a key that appeared meanwhile (the data-dir lock makes that unlikely).
    await writeFile(file, key + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return (await readKey(file)) ?? key;
    throw unusable(file, err);
  }
  // The umask may have narrowed the mode further; it must not have widened it.
  await chmod(file, 0o600);
  return key;
}

async function readKey(file: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw unusable(file, err);
  }
  const key = text.trim();
  if (key.length < 16) {
    throw new PorpoiseError(
      "SECRET_KEY_INVALID",
      500,
      `${file} holds no usable key (${key.length} characters, at least 16 expected): restore the file from a backup, or pass --secret with the key the datasource passwords were written with`,
    );
  }
  return key;
}

function unusable(file: string, err: unknown): PorpoiseError {
  return new PorpoiseError("DATA_DIR_UNUSABLE", 500, `cannot read or create ${file}: ${(err as Error).message}; is the data directory writable?`, { cause: err });
}
