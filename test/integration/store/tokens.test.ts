import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError } from "../../../src/core/errors.ts";
import type { Store, TokenKind } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { firstPage, system } from "./fixtures.ts";

const hour = 3_600_000;
const sha256 = (token: string) => new Bun.CryptoHasher("sha256").update(token).digest("hex");

async function userAndToken(store: Store, opts: { expiresAt?: Date | null; kind?: TokenKind; name?: string } = {}) {
  const user = await store.users.create({ name: opts.name ?? "alice", passwordHash: null, isAdmin: false }, system);
  const secret = `pp_${crypto.randomUUID()}`;
  const token = await store.tokens.create(
    { userId: user.id, name: "ci", kind: opts.kind ?? "api", tokenHash: sha256(secret), prefix: secret.slice(0, 8), expiresAt: opts.expiresAt ?? null },
    { userId: user.id, userName: user.name },
  );
  return { user, token, hash: sha256(secret), secret };
}

describe.each(dialects)("tokens on %s", (dialect) => {
  test("a live token authenticates its user; an unknown hash does not", async () => {
    await using store = await freshStore(dialect);
    const { user, token, hash } = await userAndToken(store, { expiresAt: new Date(Date.now() + hour) });
    expect(token).toMatchObject({ userId: user.id, name: "ci", kind: "api", revokedAt: null });
    expect(token.expiresAt).toBeInstanceOf(Date);
    expect(await store.tokens.authenticate(hash, new Date())).toEqual({ token, user });
    expect(await store.tokens.authenticate(sha256("not-a-token"), new Date())).toBeNull();
  });

  test("expiry is judged at the `now` given: valid before expiresAt, rejected at and after it", async () => {
    await using store = await freshStore(dialect);
    const expiresAt = new Date(Date.UTC(2030, 0, 1, 12, 0, 0, 500));
    const { hash } = await userAndToken(store, { expiresAt, kind: "session" });
    expect(await store.tokens.authenticate(hash, new Date(expiresAt.getTime() - 1))).not.toBeNull();
    expect(await store.tokens.authenticate(hash, expiresAt)).toBeNull();
    expect(await store.tokens.authenticate(hash, new Date(expiresAt.getTime() + hour))).toBeNull();
  });

  test("a token without expiry lives until it is revoked; revoking twice returns the same revocation", async () => {
    await using store = await freshStore(dialect);
    const { user, token, hash } = await userAndToken(store);
    const actor = { userId: user.id, userName: user.name };
    expect(await store.tokens.authenticate(hash, new Date(Date.now() + 100 * 365 * 24 * hour))).not.toBeNull();
    const revoked = await store.tokens.revoke(user.id, token.id, actor);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await store.tokens.authenticate(hash, new Date())).toBeNull();
    expect(await store.tokens.revoke(user.id, token.id, actor)).toEqual(revoked);
    expect(await store.tokens.exists(hash)).toBe(true);
    const revocations = (await store.audit.list(firstPage)).items.filter((e) => e.action === "token.revoke");
    expect(revocations).toHaveLength(1);
  });

  test("a disabled user's tokens stop working and work again when re-enabled", async () => {
    await using store = await freshStore(dialect);
    const { user, hash } = await userAndToken(store);
    await store.users.setDisabled(user.id, true, system);
    expect(await store.tokens.authenticate(hash, new Date())).toBeNull();
    await store.users.setDisabled(user.id, false, system);
    expect(await store.tokens.authenticate(hash, new Date())).not.toBeNull();
  });

  test("nobody revokes another user's token: NotFoundError, and the token keeps working", async () => {
    await using store = await freshStore(dialect);
    const alice = await userAndToken(store, { name: "alice" });
    const mallory = await store.users.create({ name: "mallory", passwordHash: null, isAdmin: false }, system);
    const attempt = store.tokens.revoke(mallory.id, alice.token.id, { userId: mallory.id, userName: "mallory" });
    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toThrow(`user ${mallory.id} has no token ${alice.token.id}`);
    expect(await store.tokens.authenticate(alice.hash, new Date())).not.toBeNull();
  });

  test("listForUser shows only that user's tokens, never their hashes", async () => {
    await using store = await freshStore(dialect);
    const alice = await userAndToken(store, { name: "alice" });
    const bob = await userAndToken(store, { name: "bob" });
    const list = await store.tokens.listForUser(alice.user.id);
    expect(list).toEqual([alice.token]);
    expect(JSON.stringify(list)).not.toContain(alice.hash);
    expect(await store.tokens.listForUser(bob.user.id)).toEqual([bob.token]);
    expect(await store.tokens.listForUser(9999)).toEqual([]);
  });

  test("a token for an unknown user is NotFoundError; a reused hash is ConflictError; nothing is stored", async () => {
    await using store = await freshStore(dialect);
    const { user, hash } = await userAndToken(store);
    const base = { name: "x", kind: "api" as const, prefix: "pp_x", expiresAt: null };
    const unknown = store.tokens.create({ ...base, userId: user.id + 50, tokenHash: sha256("other") }, system);
    await expect(unknown).rejects.toBeInstanceOf(NotFoundError);
    await expect(unknown).rejects.toThrow(`user ${user.id + 50} does not exist`);
    await expect(store.tokens.create({ ...base, userId: user.id, tokenHash: hash }, system)).rejects.toBeInstanceOf(ConflictError);
    expect(await store.tokens.exists(sha256("other"))).toBe(false);
    expect(await store.tokens.listForUser(user.id)).toHaveLength(1);
  });

  test("the audit row for a new token names it by prefix and never holds the hash or the token", async () => {
    await using store = await freshStore(dialect);
    const { user, token, hash, secret } = await userAndToken(store);
    const [entry] = (await store.audit.list(firstPage)).items;
    expect(entry).toMatchObject({
      action: "token.create",
      objectType: "api_token",
      objectId: String(token.id),
      actorId: user.id,
      details: { userId: user.id, name: "ci", kind: "api", prefix: token.prefix },
    });
    expect(JSON.stringify(entry)).not.toContain(hash);
    expect(JSON.stringify(entry)).not.toContain(secret);
  });
});
