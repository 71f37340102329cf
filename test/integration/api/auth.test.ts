// Login, sessions, API tokens and every way a token can be refused.

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { dialects, rawQuery } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

const HOUR = 3600_000;

describe.each(dialects)("API auth on %s", (dialect) => {
  test("login gives a session token that works until the session lifetime ends", async () => {
    await using h = await apiHarness(dialect, { sessionTtlMs: 2 * HOUR });
    expect((await h.call("POST", "/api/v1/users", { body: { name: "alice", password: "alice-password" } })).status).toBe(201);
    const login = await h.call("POST", "/api/v1/login", { token: null, body: { username: "alice", password: "alice-password" } });
    expect(login.status).toBe(200);
    expect(login.json).toMatchObject({ kind: "session", user: { name: "alice", isAdmin: false, hasPassword: true } });
    expect(login.json.token).toMatch(/^pp_[A-Za-z0-9_-]{43}$/);
    expect(login.json.prefix).toBe(login.json.token.slice(0, 11));
    expect(Date.parse(login.json.expiresAt)).toBe(h.clock.now.getTime() + 2 * HOUR);

    const me = await h.call("GET", "/api/v1/me", { token: login.json.token });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ user: { name: "alice" }, token: { kind: "session", id: login.json.id } });

    h.clock.now = new Date(h.clock.now.getTime() + 2 * HOUR - 1000);
    expect((await h.call("GET", "/api/v1/me", { token: login.json.token })).status).toBe(200);
    h.clock.now = new Date(h.clock.now.getTime() + 2000);
    expectError(await h.call("GET", "/api/v1/me", { token: login.json.token }), 401, "UNAUTHORIZED", /expired/);
  });

  test("an unknown user, a wrong password and a user without password get the same 401", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/users", { body: { name: "bob", password: "bob-password" } });
    await h.user("robot");
    const attempts = [
      { username: "bob", password: "wrong-password" },
      { username: "nobody", password: "bob-password" },
      { username: "robot", password: "anything-at-all" },
      { username: "admin", password: "anything-at-all" },
    ];
    const replies = [];
    for (const body of attempts) replies.push(await h.call("POST", "/api/v1/login", { token: null, body }));
    for (const reply of replies) expectError(reply, 401, "UNAUTHORIZED", "wrong user name or password");
    expect(new Set(replies.map((r) => r.text)).size).toBe(1);
    // No session was created by any of them.
    const sessions = await rawQuery(h.store.url, "SELECT count(*) AS n FROM api_tokens WHERE kind = 'session'");
    expect(Number(sessions[0]!.n)).toBe(0);
  });

  test("a disabled user can neither log in nor use a token; enabling restores the token", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/users", { body: { name: "carol", password: "carol-password" } });
    const login = await h.call("POST", "/api/v1/login", { token: null, body: { username: "carol", password: "carol-password" } });
    expect(login.status).toBe(200);
    expect((await h.call("POST", "/api/v1/users/carol/disable")).json.disabled).toBe(true);

    expectError(await h.call("GET", "/api/v1/me", { token: login.json.token }), 401, "UNAUTHORIZED");
    const again = await h.call("POST", "/api/v1/login", { token: null, body: { username: "carol", password: "carol-password" } });
    expectError(again, 401, "UNAUTHORIZED", /disabled/);
    // A wrong password for a disabled user says nothing about the account.
    const wrong = await h.call("POST", "/api/v1/login", { token: null, body: { username: "carol", password: "not-her-password" } });
    expectError(wrong, 401, "UNAUTHORIZED", "wrong user name or password");

    await h.call("POST", "/api/v1/users/carol/enable");
    expect((await h.call("GET", "/api/v1/me", { token: login.json.token })).status).toBe(200);
  });

  test("missing, malformed, unknown, expired and revoked tokens are 401 with the error shape", async () => {
    await using h = await apiHarness(dialect);
    const missing = expectError(await h.call("GET", "/api/v1/me", { token: null }), 401, "UNAUTHORIZED");
    expect(missing.message).toContain("Authorization: Bearer");
    for (const header of ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer two words", "Bearer  ", `Token ${h.adminToken}`, "Bearer ä-not-token68"]) {
      expectError(await h.call("GET", "/api/v1/me", { headers: { authorization: header } }), 401, "UNAUTHORIZED");
    }
    expectError(await h.call("GET", "/api/v1/me", { token: "pp_" + "A".repeat(43) }), 401, "UNAUTHORIZED", /unknown, expired or revoked/);
    expectError(await h.call("GET", "/api/v1/me", { token: h.adminToken.slice(0, -1) }), 401, "UNAUTHORIZED");

    const short = await h.call("POST", "/api/v1/tokens", { body: { name: "short", expiresIn: "1h" } });
    expect(short.status).toBe(201);
    expect(Date.parse(short.json.expiresAt)).toBe(h.clock.now.getTime() + HOUR);
    expect((await h.call("GET", "/api/v1/me", { token: short.json.token })).status).toBe(200);
    h.clock.now = new Date(h.clock.now.getTime() + HOUR);
    expectError(await h.call("GET", "/api/v1/me", { token: short.json.token }), 401, "UNAUTHORIZED");

    const revoked = await h.call("POST", "/api/v1/tokens", { body: { name: "to-revoke" } });
    expect(revoked.json.expiresAt).toBeNull();
    expect((await h.call("DELETE", `/api/v1/tokens/${revoked.json.id}`)).status).toBe(204);
    expectError(await h.call("GET", "/api/v1/me", { token: revoked.json.token }), 401, "UNAUTHORIZED");
    // Revoking twice is fine; the admin's own token was never affected.
    expect((await h.call("DELETE", `/api/v1/tokens/${revoked.json.id}`)).status).toBe(204);
    expect((await h.call("GET", "/api/v1/me")).status).toBe(200);
  });

  // Found tokens are remembered for a second (src/api/token-cache.ts).
  test("a token just used is refused at once after it is revoked through this API, and within a second after a revocation elsewhere", async () => {
    await using h = await apiHarness(dialect);
    const t = await h.call("POST", "/api/v1/tokens", { body: { name: "t" } });
    expect((await h.call("GET", "/api/v1/me", { token: t.json.token })).status).toBe(200);
    expect((await h.call("DELETE", `/api/v1/tokens/${t.json.id}`)).status).toBe(204);
    expectError(await h.call("GET", "/api/v1/me", { token: t.json.token }), 401, "UNAUTHORIZED");

    const u = await h.call("POST", "/api/v1/tokens", { body: { name: "u" } });
    const me = await h.call("GET", "/api/v1/me", { token: u.json.token });
    expect(me.status).toBe(200);
    // As another API process would: straight in the Store, which this process is not told about.
    await h.store.tokens.revoke(me.json.user.id, u.json.id, { userId: me.json.user.id, userName: me.json.user.name });
    const revokedAt = performance.now();
    let status = 200;
    while (status === 200 && performance.now() - revokedAt < 3000) {
      status = (await h.call("GET", "/api/v1/me", { token: u.json.token })).status;
      if (status === 200) await Bun.sleep(50);
    }
    expect(status).toBe(401);
    expect(performance.now() - revokedAt).toBeLessThan(1500);
  });

  test("logout revokes exactly the token it was sent with", async () => {
    await using h = await apiHarness(dialect);
    const a = await h.call("POST", "/api/v1/tokens", { body: { name: "a" } });
    const b = await h.call("POST", "/api/v1/tokens", { body: { name: "b" } });
    expect((await h.call("POST", "/api/v1/logout", { token: a.json.token })).status).toBe(204);
    expectError(await h.call("GET", "/api/v1/me", { token: a.json.token }), 401, "UNAUTHORIZED");
    expect((await h.call("GET", "/api/v1/me", { token: b.json.token })).status).toBe(200);
  });

  test("tokens are shown once, listed without the secret, and stored only as SHA-256", async () => {
    await using h = await apiHarness(dialect);
    const created = await h.call("POST", "/api/v1/tokens", { body: { name: "ci", expiresIn: "30d" } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "ci", kind: "api", revokedAt: null });
    const secret: string = created.json.token;

    const list = await h.call("GET", "/api/v1/tokens");
    expect(list.status).toBe(200);
    expect(list.json).toMatchObject({ total: 2, limit: 50, offset: 0 });
    expect(list.json.items.map((t: { name: string }) => t.name)).toEqual(["bootstrap", "ci"]);
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toContain(secret.slice(11));
    for (const item of list.json.items) expect(Object.keys(item).sort()).toEqual(["createdAt", "expiresAt", "id", "kind", "name", "prefix", "revokedAt"]);
    const paged = await h.call("GET", "/api/v1/tokens?limit=1&offset=1");
    expect(paged.json).toMatchObject({ total: 2, limit: 1, offset: 1, items: [{ name: "ci" }] });

    const rows = await rawQuery(h.store.url, "SELECT token_hash, prefix FROM api_tokens WHERE name = 'ci'");
    expect(rows).toEqual([{ token_hash: createHash("sha256").update(secret).digest("hex"), prefix: secret.slice(0, 11) }]);
    const everything = JSON.stringify(await rawQuery(h.store.url, "SELECT * FROM api_tokens"));
    expect(everything).not.toContain(secret);
  });

  test("a user cannot see or revoke another user's tokens", async () => {
    await using h = await apiHarness(dialect);
    const eve = await h.user("eve");
    const adminTokens = await h.call("GET", "/api/v1/tokens");
    const adminTokenId = adminTokens.json.items[0].id;
    const list = await h.call("GET", "/api/v1/tokens", { token: eve.token });
    expect(list.json.items.map((t: { name: string }) => t.name)).toEqual(["test"]);
    expectError(await h.call("DELETE", `/api/v1/tokens/${adminTokenId}`, { token: eve.token }), 404, "NOT_FOUND");
    expect((await h.call("GET", "/api/v1/me")).status).toBe(200);
  });

  test("token input is validated: name, expiresIn, id", async () => {
    await using h = await apiHarness(dialect);
    for (const [body, path] of [
      [{ name: "x", expiresIn: "30x" }, "expiresIn"],
      [{ name: "x", expiresIn: -5 }, "expiresIn"],
      [{ name: "x", expiresIn: "99999d" }, "expiresIn"],
      [{ name: "" }, "name"],
      [{ expiresIn: "1h" }, "name"],
      [{ name: "x", scope: "all" }, "scope"],
    ] as const) {
      const err = expectError(await h.call("POST", "/api/v1/tokens", { body }), 400, "VALIDATION_FAILED");
      expect(err.details.map((d) => d.path)).toContain(path);
    }
    expectError(await h.call("DELETE", "/api/v1/tokens/abc"), 400, "VALIDATION_FAILED", /id/);
    expectError(await h.call("DELETE", "/api/v1/tokens/99999999999"), 400, "VALIDATION_FAILED", /id/);
    expect((await h.call("GET", "/api/v1/tokens")).json.total).toBe(1);
  });
});
