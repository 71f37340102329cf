// API tokens: 32 random bytes, base64url, prefixed `pp_` so they are easy to
// spot in a leaked file or a secret scanner. Only the SHA-256 hex digest is
// stored; the token itself is shown once, at creation. A plain hash (no salt,
// no slow KDF) is right here because the input is 256 random bits, not a
// password: nothing can be guessed, and lookup must be one indexed query.

import { UnauthorizedError } from "../core/errors.ts";

export const TOKEN_PREFIX = "pp_";

/** Characters of the token kept in the store for display (`pp_` + 8). */
const DISPLAY_CHARS = TOKEN_PREFIX.length + 8;

// RFC 6750 token68; preset tokens (PORPOISE_ADMIN_TOKEN) need not start with `pp_`.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const MAX_TOKEN_CHARS = 512;

// Web Crypto and Bun.CryptoHasher rather than node:crypto, which an idle `porpoise all` then
// never loads (idle RSS, see src/modes/all.ts).
export function generateToken(): string {
  return TOKEN_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export function hashToken(token: string): string {
  return new Bun.CryptoHasher("sha256").update(token, "utf8").digest("hex");
}

/** The part of a token that is safe to show in listings. */
export function tokenDisplayPrefix(token: string): string {
  return token.slice(0, DISPLAY_CHARS);
}

/** Checks that a token chosen by an operator is strong enough to guard the admin account. */
export function presetTokenProblem(token: string): string | null {
  if (token.length < 32) return "is shorter than 32 characters";
  if (token.length > MAX_TOKEN_CHARS) return `is longer than ${MAX_TOKEN_CHARS} characters`;
  if (!BEARER.test(`Bearer ${token}`)) return "may only contain letters, digits and - . _ ~ + / (then optional =)";
  return null;
}

/** The token from an `Authorization` header; 401 naming what is wrong otherwise. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === "") {
    throw new UnauthorizedError(
      "missing Authorization header: send `Authorization: Bearer <token>` (get a token with POST /api/v1/login)",
    );
  }
  const m = BEARER.exec(header);
  if (!m || m[1]!.length > MAX_TOKEN_CHARS) {
    throw new UnauthorizedError("malformed Authorization header: expected `Bearer <token>`");
  }
  return m[1]!;
}
