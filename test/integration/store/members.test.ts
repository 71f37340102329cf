import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError } from "../../../src/core/errors.ts";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { firstPage, system, userWithProject } from "./fixtures.ts";

async function teamOf(store: Store) {
  const { user: alice, project, actor } = await userWithProject(store, { user: "alice" });
  const bob = await store.users.create({ name: "bob", passwordHash: null, isAdmin: false }, system);
  const carol = await store.users.create({ name: "carol", passwordHash: null, isAdmin: false }, system);
  return { alice, bob, carol, project, actor };
}

describe.each(dialects)("project members on %s", (dialect) => {
  test("add members with roles; list them by user name; role() answers per user", async () => {
    await using store = await freshStore(dialect);
    const { alice, bob, carol, project, actor } = await teamOf(store);
    const added = await store.members.add(project.id, carol.id, "viewer", actor);
    expect(added).toMatchObject({ projectId: project.id, userId: carol.id, userName: "carol", role: "viewer" });
    await store.members.add(project.id, bob.id, "developer", actor);
    const list = await store.members.list(project.id);
    expect(list.map((m) => [m.userName, m.role])).toEqual([
      ["alice", "owner"],
      ["bob", "developer"],
      ["carol", "viewer"],
    ]);
    expect(list[2]).toEqual(added);
    expect(await store.members.role(project.id, bob.id)).toBe("developer");
    expect(await store.members.role(project.id, alice.id + 100)).toBeNull();
  });

  test("adding a member twice is a ConflictError naming both, and keeps the first role", async () => {
    await using store = await freshStore(dialect);
    const { bob, project, actor } = await teamOf(store);
    await store.members.add(project.id, bob.id, "viewer", actor);
    const attempt = store.members.add(project.id, bob.id, "owner", actor);
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('user "bob" is already a member of project "etl"');
    expect(await store.members.role(project.id, bob.id)).toBe("viewer");
  });

  test("unknown users, projects and memberships are NotFoundError", async () => {
    await using store = await freshStore(dialect);
    const { bob, project, actor } = await teamOf(store);
    await expect(store.members.add(project.id, 999, "viewer", actor)).rejects.toThrow("user 999 does not exist");
    await expect(store.members.add(999, bob.id, "viewer", actor)).rejects.toThrow("project 999 does not exist");
    await expect(store.members.setRole(project.id, bob.id, "owner", actor)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.members.remove(project.id, bob.id, actor)).rejects.toThrow(`user ${bob.id} is not a member of project "etl"`);
    await expect(store.members.remove(999, bob.id, actor)).rejects.toThrow("project 999 does not exist");
  });

  test("the last owner can be neither demoted nor removed; with a second owner both work", async () => {
    await using store = await freshStore(dialect);
    const { alice, bob, project, actor } = await teamOf(store);
    const demote = store.members.setRole(project.id, alice.id, "developer", actor);
    await expect(demote).rejects.toBeInstanceOf(ConflictError);
    await expect(demote).rejects.toThrow('user "alice" is the last owner of project "etl": make another member owner first');
    await expect(store.members.remove(project.id, alice.id, actor)).rejects.toThrow("last owner");
    expect(await store.members.role(project.id, alice.id)).toBe("owner");

    await store.members.add(project.id, bob.id, "developer", actor);
    expect((await store.members.setRole(project.id, bob.id, "owner", actor)).role).toBe("owner");
    expect((await store.members.setRole(project.id, alice.id, "viewer", actor)).role).toBe("viewer");
    await expect(store.members.remove(project.id, bob.id, actor)).rejects.toThrow('user "bob" is the last owner');
    await store.members.remove(project.id, alice.id, actor);
    expect((await store.members.list(project.id)).map((m) => m.userName)).toEqual(["bob"]);
  });

  test("two owners demoting each other at the same moment: exactly one wins, an owner remains", async () => {
    await using store = await freshStore(dialect);
    const { alice, bob, project, actor } = await teamOf(store);
    await store.members.add(project.id, bob.id, "owner", actor);
    for (let round = 0; round < 10; round++) {
      const results = await Promise.allSettled([
        store.members.setRole(project.id, alice.id, "developer", actor),
        store.members.setRole(project.id, bob.id, "developer", actor),
      ]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const [rejected] = results.filter((r) => r.status === "rejected");
      expect((rejected as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      const owners = (await store.members.list(project.id)).filter((m) => m.role === "owner");
      expect(owners).toHaveLength(1);
      // Make both owners again for the next round.
      const demoted = owners[0]!.userId === alice.id ? bob : alice;
      await store.members.setRole(project.id, demoted.id, "owner", actor);
    }
  });

  test("two owners removing each other at the same moment: exactly one wins", async () => {
    await using store = await freshStore(dialect);
    const { alice, bob, project, actor } = await teamOf(store);
    await store.members.add(project.id, bob.id, "owner", actor);
    for (let round = 0; round < 10; round++) {
      const results = await Promise.allSettled([
        store.members.remove(project.id, alice.id, actor),
        store.members.remove(project.id, bob.id, actor),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
      const members = await store.members.list(project.id);
      expect(members.map((m) => m.role)).toEqual(["owner"]);
      const removed = members[0]!.userId === alice.id ? bob : alice;
      await store.members.add(project.id, removed.id, "owner", system);
    }
  });

  test("membership changes are audited with who, whom and the roles", async () => {
    await using store = await freshStore(dialect);
    const { alice, bob, project, actor } = await teamOf(store);
    await store.members.add(project.id, bob.id, "viewer", actor);
    await store.members.setRole(project.id, bob.id, "developer", actor);
    await store.members.remove(project.id, bob.id, actor);
    const entries = (await store.audit.list({ ...firstPage, projectId: project.id })).items.slice(0, 3);
    expect(entries.map((e) => [e.action, e.details])).toEqual([
      ["member.remove", { userId: bob.id, userName: "bob", role: "developer" }],
      ["member.set_role", { userId: bob.id, userName: "bob", from: "viewer", role: "developer" }],
      ["member.add", { userId: bob.id, userName: "bob", role: "viewer" }],
    ]);
    expect(entries.every((e) => e.actorId === alice.id && e.objectId === `${project.id}:${bob.id}`)).toBe(true);
  });
});
