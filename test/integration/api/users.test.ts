// User administration: administrators only, validated input, nothing lost on a bad request.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

describe.each(dialects)("API users on %s", (dialect) => {
  test("an administrator creates, lists, gets, disables, enables users and resets a password", async () => {
    await using h = await apiHarness(dialect);
    const created = await h.call("POST", "/api/v1/users", { body: { name: "dana", password: "dana-password", isAdmin: false } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "dana", isAdmin: false, disabled: false, hasPassword: true });
    expect(Object.keys(created.json).sort()).toEqual(["createdAt", "disabled", "hasPassword", "id", "isAdmin", "name", "updatedAt"]);
    expect(new Date(created.json.createdAt).toISOString()).toBe(created.json.createdAt);
    const second = await h.call("POST", "/api/v1/users", { body: { name: "boss", password: "boss-password", isAdmin: true } });
    expect(second.json.isAdmin).toBe(true);

    const list = await h.call("GET", "/api/v1/users?limit=2");
    expect(list.json).toMatchObject({ total: 3, limit: 2, offset: 0 });
    expect(list.json.items).toHaveLength(2);
    const rest = await h.call("GET", "/api/v1/users?limit=2&offset=2");
    expect(rest.json.items).toHaveLength(1);
    const names = [...list.json.items, ...rest.json.items].map((u: { name: string }) => u.name).sort();
    expect(names).toEqual(["admin", "boss", "dana"]);

    expect((await h.call("GET", "/api/v1/users/dana")).json).toEqual(created.json);
    expectError(await h.call("GET", "/api/v1/users/nobody"), 404, "NOT_FOUND", 'user "nobody" not found');

    expect((await h.call("POST", "/api/v1/users/dana/disable")).json).toMatchObject({ name: "dana", disabled: true });
    expect((await h.call("POST", "/api/v1/users/dana/enable")).json).toMatchObject({ name: "dana", disabled: false });

    const danaSession = await h.call("POST", "/api/v1/login", { token: null, body: { username: "dana", password: "dana-password" } });
    expect((await h.call("GET", "/api/v1/me", { token: danaSession.json.token })).status).toBe(200);
    const danaApiToken = await h.call("POST", "/api/v1/tokens", { token: danaSession.json.token, body: { name: "ci" } });
    expect(danaApiToken.status).toBe(201);
    const danaReset = await h.call("PUT", "/api/v1/users/dana/password", { body: { password: "dana-new-password" } });
    expect(danaReset.status).toBe(200);
    // The reset ends the sessions made with the old password; API tokens stay valid.
    expect((await h.call("GET", "/api/v1/me", { token: danaSession.json.token })).status).toBe(401);
    expect((await h.call("GET", "/api/v1/me", { token: danaApiToken.json.token })).status).toBe(200);
    const oldPassword = await h.call("POST", "/api/v1/login", { token: null, body: { username: "dana", password: "dana-password" } });
    expect(oldPassword.status).toBe(401);

    const reset = await h.call("PUT", "/api/v1/users/admin/password", { body: { password: "new-admin-password" } });
    expect(reset.status).toBe(200);
    expect(reset.json.hasPassword).toBe(true);
    const login = await h.call("POST", "/api/v1/login", { token: null, body: { username: "admin", password: "new-admin-password" } });
    expect(login.status).toBe(200);
    // The new administrator can administer too.
    const bossLogin = await h.call("POST", "/api/v1/login", { token: null, body: { username: "boss", password: "boss-password" } });
    expect((await h.call("GET", "/api/v1/users", { token: bossLogin.json.token })).status).toBe(200);
  });

  test("non-administrators get 403 on every user route and change nothing", async () => {
    await using h = await apiHarness(dialect);
    const { token } = await h.user("plain");
    const attempts: [string, string, unknown?][] = [
      ["POST", "/api/v1/users", { name: "sneaky", password: "sneaky-password", isAdmin: true }],
      ["GET", "/api/v1/users"],
      ["GET", "/api/v1/users/admin"],
      ["POST", "/api/v1/users/admin/disable"],
      ["POST", "/api/v1/users/admin/enable"],
      ["PUT", "/api/v1/users/admin/password", { password: "taken-over!" }],
      ["GET", "/api/v1/audit"],
    ];
    for (const [method, path, body] of attempts) {
      const reply = await h.call(method, path, { token, body });
      expectError(reply, 403, "FORBIDDEN", /administrators only/);
      expect(reply.text).not.toContain('"isAdmin"');
    }
    expect((await h.call("GET", "/api/v1/users")).json.total).toBe(2);
    expect((await h.call("GET", "/api/v1/users/admin")).json).toMatchObject({ disabled: false, hasPassword: false });
  });

  test("bad user input is 400 naming the field; a taken name is 409; the existing user is untouched", async () => {
    await using h = await apiHarness(dialect);
    const cases: [unknown, string][] = [
      [{ name: "x", password: "short" }, "password"],
      [{ name: "has space", password: "long-enough" }, "name"],
      [{ name: "", password: "long-enough" }, "name"],
      [{ password: "long-enough" }, "name"],
      [{ name: "x" }, "password"],
      [{ name: 42, password: "long-enough" }, "name"],
      [{ name: "x", password: "long-enough", isAdmin: "yes" }, "isAdmin"],
      [{ name: "x", password: "long-enough", role: "admin" }, "role"],
    ];
    for (const [body, path] of cases) {
      const err = expectError(await h.call("POST", "/api/v1/users", { body }), 400, "VALIDATION_FAILED");
      expect(err.details.map((d) => d.path)).toContain(path);
      expect(err.message).toContain(path);
    }
    expectError(await h.call("POST", "/api/v1/users", { body: [] }), 400, "VALIDATION_FAILED");
    expect((await h.call("GET", "/api/v1/users")).json.total).toBe(1);

    const taken = await h.call("POST", "/api/v1/users", { body: { name: "admin", password: "long-enough", isAdmin: false } });
    expectError(taken, 409, "CONFLICT", /admin/);
    expect((await h.call("GET", "/api/v1/users/admin")).json).toMatchObject({ isAdmin: true, hasPassword: false });

    const shortReset = await h.call("PUT", "/api/v1/users/admin/password", { body: { password: "1234567" } });
    expect(expectError(shortReset, 400, "VALIDATION_FAILED").details[0]!.path).toBe("password");
    expectError(await h.call("PUT", "/api/v1/users/ghost/password", { body: { password: "long-enough" } }), 404, "NOT_FOUND");
  });

  test("an administrator cannot disable themselves", async () => {
    await using h = await apiHarness(dialect);
    expectError(await h.call("POST", "/api/v1/users/admin/disable"), 409, "CONFLICT", /your own user/);
    expect((await h.call("GET", "/api/v1/me")).status).toBe(200);
  });
});
