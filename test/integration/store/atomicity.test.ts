// Every write and its audit row commit together or not at all. To prove it, a trigger makes
// the audit insert of chosen actions fail: the change it records must then be gone too.

import { describe, expect, test } from "bun:test";
import { StoreError } from "../../../src/core/errors.ts";
import { dialects, freshStore, rawExec, type TestStore } from "../../helpers/stores.ts";
import { definition, firstPage, system, userWithProject } from "./fixtures.ts";

const refused = ["project.create", "workflow.update", "member.set_role", "token.revoke", "workflow.delete", "user.disable"];

async function refuseAudit(store: TestStore): Promise<void> {
  const actions = refused.map((a) => `'${a}'`).join(", ");
  const script =
    store.dialect === "sqlite"
      ? `CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.action IN (${actions})
         BEGIN SELECT RAISE(ABORT, 'audit refused by test'); END;
         CREATE TRIGGER refuse_user BEFORE INSERT ON users WHEN NEW.name = 'doomed'
         BEGIN SELECT RAISE(ABORT, 'user refused by test'); END;`
      : `CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.action IN (${actions}) THEN RAISE EXCEPTION 'audit refused by test'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();
         CREATE FUNCTION refuse_user() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.name = 'doomed' THEN RAISE EXCEPTION 'user refused by test'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_user BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_user();`;
  await rawExec(store.url, script);
}

describe.each(dialects)("atomic writes on %s", (dialect) => {
  test("when the audit row cannot be written, the change it records is not made either", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    const bob = await store.users.create({ name: "bob", passwordHash: null, isAdmin: false }, system);
    await store.members.add(project.id, bob.id, "viewer", actor);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    const tokenHash = "a".repeat(64);
    const token = await store.tokens.create({ userId: user.id, name: "t", kind: "api", tokenHash, prefix: "pp_a", expiresAt: null }, actor);
    await refuseAudit(store);
    const auditBefore = await store.audit.list(firstPage);

    const attempts = [
      () => store.projects.create({ name: "second", description: "", ownerId: user.id }, actor),
      () => store.workflows.addVersion(project.id, "daily", definition("daily", "echo v2"), actor),
      () => store.members.setRole(project.id, bob.id, "owner", actor),
      () => store.tokens.revoke(user.id, token.id, actor),
      () => store.workflows.delete(workflow.id, actor),
      () => store.users.setDisabled(bob.id, true, actor),
    ];
    for (const attempt of attempts) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toMatch(/^store query failed: audit refused by test \(query: insert into "audit_log"/);
    }

    expect(await store.projects.getByName("second")).toBeNull();
    expect((await store.projects.listForUser(user.id, true, firstPage)).total).toBe(1);
    expect(await store.workflows.get(project.id, "daily")).toMatchObject({ currentVersion: 1, latestVersion: 1 });
    expect(await store.workflows.getVersion(workflow.id, 2)).toBeNull();
    expect(await store.members.role(project.id, bob.id)).toBe("viewer");
    expect(await store.tokens.authenticate(tokenHash, new Date())).not.toBeNull();
    expect((await store.users.getById(bob.id))?.disabled).toBe(false);
    expect(await store.audit.list(firstPage)).toEqual(auditBefore);
  });

  test("a failed statement surfaces as a StoreError naming the query, never its parameters", async () => {
    await using store = await freshStore(dialect);
    await refuseAudit(store);
    const attempt = store.users.create({ name: "doomed", passwordHash: "$argon2id$do-not-leak", isAdmin: false }, system);
    await expect(attempt).rejects.toBeInstanceOf(StoreError);
    const err = (await attempt.catch((e: unknown) => e)) as StoreError;
    expect(err.message).toContain("user refused by test");
    expect(err.message).toMatch(/query: insert into "users"/);
    expect(err.message).not.toContain("do-not-leak");
    expect(err.code).toBe("STORE_ERROR");
    expect(await store.users.any()).toBe(false);
    // The store stays usable after a failed transaction.
    expect((await store.users.create({ name: "fine", passwordHash: null, isAdmin: false }, system)).name).toBe("fine");
  });
});

describe.each(dialects)("audit log on %s", (dialect) => {
  test("lists newest first, pages, and filters by project", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    const other = await store.projects.create({ name: "other", description: "", ownerId: user.id }, actor);
    await store.workflows.create(project.id, definition("a"), actor);
    await store.workflows.create(other.id, definition("b"), actor);
    const all = await store.audit.list(firstPage);
    expect(all.items.map((e) => e.action)).toEqual(["workflow.create", "workflow.create", "project.create", "project.create", "user.create"]);
    expect(all.items.map((e) => e.id)).toEqual([...all.items.map((e) => e.id)].sort((a, b) => b - a));
    const mine = await store.audit.list({ ...firstPage, projectId: project.id });
    expect(mine.total).toBe(2);
    expect(mine.items.map((e) => [e.action, e.projectId, e.versionAfter])).toEqual([
      ["workflow.create", project.id, 1],
      ["project.create", project.id, null],
    ]);
    const page = await store.audit.list({ limit: 2, offset: 2 });
    expect(page.total).toBe(5);
    expect(page.items.map((e) => e.objectType)).toEqual(["project", "project"]);
    expect(page.items[0]?.at).toBeInstanceOf(Date);
  });
});
