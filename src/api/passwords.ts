// Passwords are hashed with argon2id (Bun.password). Login must not tell an
// attacker which user names exist, so a missing user (or one without a
// password) still pays for one verification, against DUMMY_HASH.

import { ValidationError } from "../core/errors.ts";

export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 1024;

// Hash of a random string nobody knows, with Bun's default argon2id cost
// (m=64 MiB, t=2, p=1), so verifying against it takes as long as a real one.
const DUMMY_HASH =
  "$argon2id$v=19$m=65536,t=2,p=1$fYPu7R1rSFCDxxmoFbU1DuTN3/KE6DlR07BJdKPfxiE$3+0SZx9czdmONp34+aUdpKUxV3NKj/di7Vf22X82Zzw";

export async function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/** False for a null hash too, after the same amount of work. */
export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  if (hash === null) {
    await Bun.password.verify(password, DUMMY_HASH).catch(() => false);
    return false;
  }
  return Bun.password.verify(password, hash).catch(() => false);
}

/** For inputs that bypass the API schemas (the bootstrap admin password). */
export function checkPasswordLength(password: string, field: string): void {
  if (password.length < MIN_PASSWORD_CHARS || password.length > MAX_PASSWORD_CHARS) {
    throw new ValidationError(`${field} must be ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters long`, [
      { path: field, message: `expected ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters, got ${password.length}` },
    ]);
  }
}
