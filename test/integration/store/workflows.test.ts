import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError, ValidationError } from "../../../src/core/errors.ts";
import { dialects, freshStore, rawExec, rawQuery, type TestStore } from "../../helpers/stores.ts";
import { definition, firstPage, system, userWithProject } from "./fixtures.ts";

/** The engine has no repository yet; these tests put instances in place with plain SQL. */
async function addInstance(store: TestStore, projectId: number, workflowId: number, state: string): Promise<void> {
  const values = store.dialect === "sqlite" ? "?, ?, 1, ?, 'START_PROCESS', 0" : "$1, $2, 1, $3, 'START_PROCESS', 0";
  await rawQuery(
    store.url,
    `INSERT INTO workflow_instances (project_id, workflow_id, workflow_version, state, run_type, slot) VALUES (${values})`,
    [projectId, workflowId, state],
  );
}

describe.each(dialects)("workflows on %s", (dialect) => {
  test("create stores version 1 as current and the workflow ONLINE", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    const def = definition("daily", "echo one", { description: "the daily load" });
    const { workflow, version } = await store.workflows.create(project.id, def, actor);
    expect(workflow).toMatchObject({
      projectId: project.id,
      name: "daily",
      description: "the daily load",
      currentVersion: 1,
      latestVersion: 1,
      releaseState: "ONLINE",
      createdBy: user.id,
    });
    expect(version).toMatchObject({ workflowId: workflow.id, version: 1, definition: def, createdBy: user.id });
    expect(await store.workflows.get(project.id, "daily")).toEqual(workflow);
    expect(await store.workflows.getVersion(workflow.id, 1)).toEqual(version);
    expect(await store.workflows.get(project.id, "weekly")).toBeNull();
    expect(await store.workflows.getVersion(workflow.id, 2)).toBeNull();
  });

  test("a taken name in the project is a ConflictError; the same name in another project is fine", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    const other = await store.projects.create({ name: "other", description: "", ownerId: user.id }, actor);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    const attempt = store.workflows.create(project.id, definition("daily", "echo replaced"), actor);
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('workflow "daily" already exists in this project');
    expect((await store.workflows.getVersion(workflow.id, 1))?.definition).toEqual(definition("daily"));
    expect((await store.workflows.create(other.id, definition("daily"), actor)).workflow.projectId).toBe(other.id);
    await expect(store.workflows.create(9999, definition("x"), actor)).rejects.toThrow("project 9999 does not exist");
  });

  test("new versions count up, become current, and never change the old ones", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily", "echo v1"), actor);
    const v2 = await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v2", { description: "second" }), actor);
    const v3 = await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v3"), actor, 2);
    expect(v2.version.version).toBe(2);
    expect(v3.workflow).toMatchObject({ id: workflow.id, currentVersion: 3, latestVersion: 3, description: "" });
    expect((await store.workflows.getVersion(workflow.id, 1))?.definition).toEqual(definition("daily", "echo v1"));
    expect((await store.workflows.getVersion(workflow.id, 2))?.definition).toEqual(definition("daily", "echo v2", { description: "second" }));
    const versions = await store.workflows.listVersions(workflow.id, { limit: 2, offset: 0 });
    expect(versions.total).toBe(3);
    expect(versions.items.map((v) => v.version)).toEqual([3, 2]);
    expect(versions.items[0]).not.toHaveProperty("definition");
  });

  test("the database itself refuses to rewrite a stored version", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow, version } = await store.workflows.create(project.id, definition("daily"), actor);
    const rewrite = rawExec(store.url, `UPDATE workflow_versions SET definition = '{"name":"hacked"}' WHERE workflow_id = ${workflow.id}`);
    await expect(rewrite).rejects.toThrow("workflow versions are immutable");
    expect(await store.workflows.getVersion(workflow.id, 1)).toEqual(version);
  });

  test("a stale expectedVersion is a ConflictError that stores nothing", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v2"), actor, 1);
    const auditBefore = await store.audit.list(firstPage);
    const stale = store.workflows.addVersion(project.id, "daily", definition("daily", "echo lost"), actor, 1);
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toThrow('workflow "daily" is at version 2, not 1');
    expect(await store.workflows.get(project.id, "daily")).toMatchObject({ currentVersion: 2, latestVersion: 2 });
    expect(await store.workflows.getVersion(workflow.id, 3)).toBeNull();
    expect(await store.audit.list(firstPage)).toEqual(auditBefore);
  });

  test("concurrent new versions get distinct consecutive numbers; concurrent editors of one version: one wins", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    const blind = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.workflows.addVersion(project.id, "daily", definition("daily", `echo ${i}`), actor)),
    );
    expect(blind.map((r) => r.version.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    const editors = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => store.workflows.addVersion(project.id, "daily", definition("daily", `echo e${i}`), actor, 13)),
    );
    expect(editors.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((await store.workflows.listVersions(workflow.id, firstPage)).total).toBe(14);
  });

  test("addVersion: unknown workflow is NotFoundError; a definition with another name is a ValidationError", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    await store.workflows.create(project.id, definition("daily"), actor);
    await expect(store.workflows.addVersion(project.id, "nope", definition("nope"), actor)).rejects.toThrow(
      'workflow "nope" does not exist in this project',
    );
    const renamed = store.workflows.addVersion(project.id, "daily", definition("weekly"), actor);
    await expect(renamed).rejects.toBeInstanceOf(ValidationError);
    await expect(renamed).rejects.toThrow('the definition is named "weekly" but is stored as workflow "daily"');
  });

  test("switching the current version keeps the latest; the next version follows the latest", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v2"), actor);
    const back = await store.workflows.setCurrentVersion(workflow.id, 1, actor);
    expect(back).toMatchObject({ currentVersion: 1, latestVersion: 2 });
    const missing = store.workflows.setCurrentVersion(workflow.id, 7, actor);
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toThrow('workflow "daily" has no version 7 (its versions are 1 to 2)');
    await expect(store.workflows.setCurrentVersion(workflow.id + 50, 1, actor)).rejects.toBeInstanceOf(NotFoundError);
    const next = await store.workflows.addVersion(project.id, "daily", definition("daily", "echo v3"), actor, 1);
    expect(next.workflow).toMatchObject({ currentVersion: 3, latestVersion: 3 });
    const [entry] = (await store.audit.list(firstPage)).items;
    expect(entry).toMatchObject({ action: "workflow.update", versionBefore: 1, versionAfter: 3 });
  });

  test("list pages by name with a case-insensitive filter that treats % and _ literally", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    for (const name of ["load_eu", "loadXeu", "Load-US", "report", "cleanup-100%"]) {
      await store.workflows.create(project.id, definition(name), actor);
    }
    const all = await store.workflows.list(project.id, { limit: 2, offset: 0 });
    expect(all).toMatchObject({ total: 5, items: [{ name: "Load-US" }, { name: "cleanup-100%" }] });
    const load = await store.workflows.list(project.id, { ...firstPage, nameContains: "LOAD" });
    expect(load.items.map((w) => w.name)).toEqual(["Load-US", "loadXeu", "load_eu"]);
    expect((await store.workflows.list(project.id, { ...firstPage, nameContains: "d_e" })).items.map((w) => w.name)).toEqual(["load_eu"]);
    expect((await store.workflows.list(project.id, { ...firstPage, nameContains: "0%" })).items.map((w) => w.name)).toEqual(["cleanup-100%"]);
    expect(await store.workflows.list(project.id, { limit: 10, offset: 0, nameContains: "zzz" })).toEqual({ items: [], total: 0 });
  });

  test("release state goes OFFLINE and back, audited with from/to", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    expect((await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor)).releaseState).toBe("OFFLINE");
    expect((await store.workflows.get(project.id, "daily"))?.releaseState).toBe("OFFLINE");
    const [entry] = (await store.audit.list(firstPage)).items;
    expect(entry).toMatchObject({ action: "workflow.release", details: { name: "daily", from: "ONLINE", to: "OFFLINE" } });
    expect((await store.workflows.setReleaseState(workflow.id, "ONLINE", actor)).releaseState).toBe("ONLINE");
    await expect(store.workflows.setReleaseState(9999, "ONLINE", actor)).rejects.toThrow("workflow 9999 does not exist");
  });

  test("delete refuses an ONLINE workflow and one with active instances, naming the reason", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    await expect(store.workflows.delete(workflow.id, actor)).rejects.toThrow('workflow "daily" is ONLINE: take it OFFLINE before deleting it');
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    await addInstance(store, project.id, workflow.id, "RUNNING_EXECUTION");
    await addInstance(store, project.id, workflow.id, "SUCCESS");
    const attempt = store.workflows.delete(workflow.id, actor);
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(attempt).rejects.toThrow('workflow "daily" has 1 active instance: stop them or wait for them to finish');
    expect(await store.workflows.get(project.id, "daily")).not.toBeNull();
    expect(await store.workflows.getVersion(workflow.id, 1)).not.toBeNull();
    await expect(store.workflows.delete(9999, actor)).rejects.toBeInstanceOf(NotFoundError);
  });

  test("delete of an OFFLINE workflow with only finished instances removes it, its versions and instances", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    for (const state of ["SUCCESS", "FAILURE", "STOP"]) await addInstance(store, project.id, workflow.id, state);
    await store.workflows.delete(workflow.id, actor);
    expect(await store.workflows.get(project.id, "daily")).toBeNull();
    expect(await store.workflows.getVersion(workflow.id, 1)).toBeNull();
    expect(await rawQuery(store.url, "SELECT id FROM workflow_instances")).toEqual([]);
    const [entry] = (await store.audit.list(firstPage)).items;
    expect(entry).toMatchObject({ action: "workflow.delete", objectId: String(workflow.id), projectId: project.id, versionBefore: 1 });
    await store.projects.delete(project.id, system);
  });
});
