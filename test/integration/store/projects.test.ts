import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError } from "../../../src/core/errors.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, firstPage, system, userWithProject } from "./fixtures.ts";

describe.each(dialects)("projects on %s", (dialect) => {
  test("create makes the owner a member in the same step, and the project reads back", async () => {
    await using store = await freshStore(dialect);
    const { user, project } = await userWithProject(store);
    expect(project).toMatchObject({ name: "etl", description: "nightly loads", params: {}, createdBy: user.id });
    expect(await store.projects.getById(project.id)).toEqual(project);
    expect(await store.projects.getByName("etl")).toEqual(project);
    expect(await store.projects.getByName("ETL")).toBeNull();
    expect(await store.projects.getById(project.id + 1)).toBeNull();
    expect(await store.members.role(project.id, user.id)).toBe("owner");
  });

  test("ofInstance reads the project of a workflow instance in one query; an unknown instance has none", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    const other = await store.projects.create({ name: "other", description: "", ownerId: user.id }, actor);
    const { workflow } = await store.workflows.create(project.id, definition("wf"), actor);
    await store.workflows.create(other.id, definition("wf"), actor);
    const instance = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
    expect(await store.projects.ofInstance(instance.id)).toEqual(project);
    expect(await store.projects.ofInstance(instance.id + 1000)).toBeNull();
  });

  test("a taken name is a ConflictError naming the project; the existing one is untouched", async () => {
    await using store = await freshStore(dialect);
    const { user, project } = await userWithProject(store);
    const attempt = store.projects.create({ name: "etl", description: "other", ownerId: user.id }, system);
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('project "etl" already exists');
    expect(await store.projects.getByName("etl")).toEqual(project);
  });

  test("an unknown owner is NotFoundError and leaves no project behind", async () => {
    await using store = await freshStore(dialect);
    const attempt = store.projects.create({ name: "orphan", description: "", ownerId: 4242 }, system);
    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toThrow("user 4242 does not exist");
    expect(await store.projects.getByName("orphan")).toBeNull();
    expect((await store.audit.list(firstPage)).total).toBe(0);
  });

  test("listForUser: members see their projects, admins (all) see every project, with paging", async () => {
    await using store = await freshStore(dialect);
    const alice = await store.users.create({ name: "alice", passwordHash: null, isAdmin: false }, system);
    const bob = await store.users.create({ name: "bob", passwordHash: null, isAdmin: false }, system);
    for (const name of ["delta", "alpha", "charlie"]) await store.projects.create({ name, description: "", ownerId: alice.id }, system);
    await store.projects.create({ name: "bravo", description: "", ownerId: bob.id }, system);
    const mine = await store.projects.listForUser(alice.id, false, firstPage);
    expect(mine.items.map((p) => p.name)).toEqual(["alpha", "charlie", "delta"]);
    expect(mine.total).toBe(3);
    const page = await store.projects.listForUser(alice.id, false, { limit: 1, offset: 1 });
    expect(page).toMatchObject({ total: 3, items: [{ name: "charlie" }] });
    expect((await store.projects.listForUser(bob.id, false, firstPage)).items.map((p) => p.name)).toEqual(["bravo"]);
    const all = await store.projects.listForUser(bob.id, true, { limit: 2, offset: 0 });
    expect(all.items.map((p) => p.name)).toEqual(["alpha", "bravo"]);
    expect(all.total).toBe(4);
  });

  test("update changes only the given fields; renaming onto a taken name is a ConflictError and changes nothing", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    await store.projects.create({ name: "taken", description: "", ownerId: user.id }, actor);
    const updated = await store.projects.update(project.id, { params: { region: "eu" } }, actor);
    expect(updated).toMatchObject({ name: "etl", description: "nightly loads", params: { region: "eu" } });
    const renamed = await store.projects.update(project.id, { name: "etl-2", description: "" }, actor);
    expect(renamed).toMatchObject({ name: "etl-2", description: "", params: { region: "eu" } });
    const attempt = store.projects.update(project.id, { name: "taken", description: "lost?" }, actor);
    await expect(attempt).rejects.toThrow('project "taken" already exists');
    expect(await store.projects.getById(project.id)).toEqual(renamed);
    await expect(store.projects.update(project.id + 100, { description: "x" }, actor)).rejects.toBeInstanceOf(NotFoundError);
  });

  test("delete removes an empty project with its memberships", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    await store.projects.delete(project.id, actor);
    expect(await store.projects.getById(project.id)).toBeNull();
    expect(await store.members.role(project.id, user.id)).toBeNull();
    const [entry] = (await store.audit.list(firstPage)).items;
    expect(entry).toMatchObject({ action: "project.delete", projectId: project.id, details: { name: "etl" } });
    await expect(store.projects.delete(project.id, actor)).rejects.toThrow(`project ${project.id} does not exist`);
  });

  test("delete refuses a project that holds workflows, says why, and changes nothing", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    await store.workflows.create(project.id, definition("wf-a"), actor);
    await store.workflows.create(project.id, definition("wf-b"), actor);
    const auditBefore = await store.audit.list(firstPage);
    const attempt = store.projects.delete(project.id, actor);
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('project "etl" still holds 2 workflows: delete them before deleting the project');
    expect(await store.projects.getById(project.id)).toEqual(project);
    expect(await store.members.role(project.id, user.id)).toBe("owner");
    expect((await store.workflows.list(project.id, firstPage)).total).toBe(2);
    expect(await store.audit.list(firstPage)).toEqual(auditBefore);
  });
});
