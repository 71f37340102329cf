import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError } from "../../../src/core/errors.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { firstPage, system } from "./fixtures.ts";

describe.each(dialects)("users on %s", (dialect) => {
  test("create, read back by id and name, and report that a user exists", async () => {
    await using store = await freshStore(dialect);
    expect(await store.users.any()).toBe(false);
    const admin = await store.users.create({ name: "admin", passwordHash: "$argon2id$hash", isAdmin: true }, system);
    expect(admin).toMatchObject({ name: "admin", isAdmin: true, disabled: false, hasPassword: true });
    expect(admin.createdAt).toBeInstanceOf(Date);
    expect(await store.users.any()).toBe(true);
    expect(await store.users.getById(admin.id)).toEqual(admin);
    expect(await store.users.getByName("admin")).toEqual(admin);
    expect(await store.users.getById(admin.id + 1000)).toBeNull();
    expect(await store.users.getByName("nobody")).toBeNull();
  });

  test("create with a first token stores both in one transaction; a clashing token leaves no user behind", async () => {
    await using store = await freshStore(dialect);
    const token = { name: "bootstrap", kind: "api" as const, tokenHash: "a".repeat(64), prefix: "pp_aaaa", expiresAt: null };
    const admin = await store.users.create({ name: "admin", passwordHash: null, isAdmin: true, token }, system);
    const found = await store.tokens.authenticate(token.tokenHash, new Date());
    expect(found?.user).toEqual(admin);
    expect(found?.token).toMatchObject({ name: "bootstrap", kind: "api", userId: admin.id, expiresAt: null });

    // Same token hash again: the token insert fails, so the user insert must roll back with it.
    const clash = store.users.create({ name: "second", passwordHash: null, isAdmin: false, token }, system);
    await expect(clash).rejects.toBeInstanceOf(ConflictError);
    await expect(clash).rejects.toThrow("token");
    expect(await store.users.getByName("second")).toBeNull();
    expect((await store.users.list(firstPage)).total).toBe(1);
  });

  test("the password hash is only handed out by getPasswordHash, never in a User", async () => {
    await using store = await freshStore(dialect);
    const bob = await store.users.create({ name: "bob", passwordHash: "$argon2id$secret", isAdmin: false }, system);
    const robot = await store.users.create({ name: "robot", passwordHash: null, isAdmin: false }, system);
    expect(JSON.stringify(bob)).not.toContain("secret");
    expect(robot.hasPassword).toBe(false);
    expect(await store.users.getPasswordHash("bob")).toEqual({ user: bob, passwordHash: "$argon2id$secret" });
    expect(await store.users.getPasswordHash("robot")).toEqual({ user: robot, passwordHash: null });
    expect(await store.users.getPasswordHash("nobody")).toBeNull();
  });

  test("a taken name is a ConflictError naming the user, and the existing user is untouched", async () => {
    await using store = await freshStore(dialect);
    const first = await store.users.create({ name: "carol", passwordHash: "h1", isAdmin: false }, system);
    const attempt = store.users.create({ name: "carol", passwordHash: "h2", isAdmin: true }, system);
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('user "carol" already exists');
    expect(await store.users.getPasswordHash("carol")).toEqual({ user: first, passwordHash: "h1" });
    expect((await store.users.list(firstPage)).total).toBe(1);
  });

  test("list pages through users sorted by name and counts them all", async () => {
    await using store = await freshStore(dialect);
    for (const name of ["dave", "ann", "eve", "bea", "cid"]) {
      await store.users.create({ name, passwordHash: null, isAdmin: false }, system);
    }
    const page1 = await store.users.list({ limit: 2, offset: 0 });
    const page3 = await store.users.list({ limit: 2, offset: 4 });
    expect(page1.items.map((u) => u.name)).toEqual(["ann", "bea"]);
    expect(page3.items.map((u) => u.name)).toEqual(["eve"]);
    expect(page1.total).toBe(5);
    expect((await store.users.list({ limit: 2, offset: 10 })).items).toEqual([]);
  });

  test("disable, enable and set a password; unknown ids are NotFoundError", async () => {
    await using store = await freshStore(dialect);
    const user = await store.users.create({ name: "frank", passwordHash: null, isAdmin: false }, system);
    expect((await store.users.setDisabled(user.id, true, system)).disabled).toBe(true);
    expect((await store.users.getById(user.id))?.disabled).toBe(true);
    expect((await store.users.setDisabled(user.id, false, system)).disabled).toBe(false);
    const withPassword = await store.users.setPasswordHash(user.id, "$argon2id$new", system);
    expect(withPassword.hasPassword).toBe(true);
    expect((await store.users.getPasswordHash("frank"))?.passwordHash).toBe("$argon2id$new");
    await expect(store.users.setDisabled(user.id + 99, true, system)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.users.setPasswordHash(user.id + 99, "x", system)).rejects.toThrow(`user ${user.id + 99} does not exist`);
  });

  test("writes are audited with the actor and without password hashes", async () => {
    await using store = await freshStore(dialect);
    const admin = await store.users.create({ name: "root", passwordHash: "$argon2id$rootsecret", isAdmin: true }, system);
    const actor = { userId: admin.id, userName: admin.name };
    const user = await store.users.create({ name: "gina", passwordHash: "$argon2id$ginasecret", isAdmin: false }, actor);
    await store.users.setPasswordHash(user.id, "$argon2id$changed", actor);
    await store.users.setDisabled(user.id, true, actor);
    const { items } = await store.audit.list(firstPage);
    expect(items.map((e) => e.action)).toEqual(["user.disable", "user.set_password", "user.create", "user.create"]);
    expect(items[0]).toMatchObject({ actorId: admin.id, actorName: "root", objectType: "user", objectId: String(user.id) });
    expect(items[3]).toMatchObject({ actorId: null, actorName: "system", details: { name: "root", isAdmin: true } });
    const text = JSON.stringify(items);
    for (const secret of ["rootsecret", "ginasecret", "changed"]) expect(text).not.toContain(secret);
  });
});
