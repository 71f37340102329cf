import { describe, expect, test } from "bun:test";
import { ConflictError, NotFoundError, StoreError } from "../../../src/core/errors.ts";
import { passwordCodec } from "../../../src/store/datasources.ts";
import { openStore } from "../../../src/store/open.ts";
import type { NewDatasource } from "../../../src/store/store.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, firstPage, userWithProject } from "./fixtures.ts";

const SECRET = "s3cret-Pa55word!";
const warehouse: NewDatasource = { name: "warehouse", type: "postgres", host: "db.internal", port: 5432, database: "dw", user: "etl", password: SECRET, params: { sslmode: "require" } };

describe.each(dialects)("datasources on %s", (dialect) => {
  test("create, get, list, update, delete — the password never comes back, only hasPassword", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, user } = await userWithProject(store);
    const created = await store.datasources.create(project.id, warehouse, actor);
    expect(created).toMatchObject({ projectId: project.id, name: "warehouse", type: "postgres", host: "db.internal", port: 5432, database: "dw", user: "etl", hasPassword: true, params: { sslmode: "require" }, description: "", createdBy: user.id });
    expect(JSON.stringify(created)).not.toContain(SECRET);
    expect(await store.datasources.get(project.id, "warehouse")).toEqual(created);
    expect(await store.datasources.get(project.id, "nope")).toBeNull();
    await store.datasources.create(project.id, { ...warehouse, name: "anon", password: null }, actor);
    const page = await store.datasources.list(project.id, firstPage);
    expect({ names: page.items.map((d) => [d.name, d.hasPassword]), total: page.total }).toEqual({ names: [["anon", false], ["warehouse", true]], total: 2 });
    expect(JSON.stringify(page)).not.toContain(SECRET);
    expect((await store.datasources.list(project.id, { limit: 1, offset: 1 })).items.map((d) => d.name)).toEqual(["warehouse"]);

    const moved = await store.datasources.update(project.id, "warehouse", { host: "db2.internal", port: 6432 }, actor);
    expect(moved).toMatchObject({ host: "db2.internal", port: 6432, hasPassword: true, user: "etl" });
    expect((await store.datasources.getConnection(project.id, "warehouse"))?.password).toBe(SECRET);
    await store.datasources.update(project.id, "warehouse", { password: "n3w" }, actor);
    expect((await store.datasources.getConnection(project.id, "warehouse"))?.password).toBe("n3w");
    expect(await store.datasources.update(project.id, "warehouse", { password: null }, actor)).toMatchObject({ hasPassword: false });
    expect(await store.datasources.getConnection(project.id, "warehouse")).toEqual({ type: "postgres", host: "db2.internal", port: 6432, database: "dw", user: "etl", password: null, params: { sslmode: "require" } });

    await store.datasources.delete(project.id, "anon", actor);
    expect(await store.datasources.get(project.id, "anon")).toBeNull();
    await expect(store.datasources.delete(project.id, "anon", actor)).rejects.toThrow('datasource "anon" does not exist in this project');
    await expect(store.datasources.update(project.id, "anon", { port: 1 }, actor)).rejects.toBeInstanceOf(NotFoundError);

    const audit = await store.audit.list({ ...firstPage, projectId: project.id });
    const entries = audit.items.filter((e) => e.objectType === "datasource");
    expect(entries.map((e) => e.action)).toEqual(["datasource.delete", "datasource.update", "datasource.update", "datasource.update", "datasource.create", "datasource.create"]);
    expect(entries[3]!.details).toMatchObject({ name: "warehouse", host: "db2.internal", changed: ["host", "port"] });
    expect(entries[2]!.details).toMatchObject({ changed: ["password"] });
    const everything = JSON.stringify(audit);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain("n3w");
  });

  test("names are unique per project; a missing project is NotFoundError; the same name in another project is fine", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, user } = await userWithProject(store);
    const other = await store.projects.create({ name: "other", description: "", ownerId: user.id }, actor);
    await store.datasources.create(project.id, warehouse, actor);
    const again = store.datasources.create(project.id, { ...warehouse, host: "elsewhere" }, actor);
    await expect(again).rejects.toBeInstanceOf(ConflictError);
    await expect(again).rejects.toThrow('datasource "warehouse" already exists in this project');
    expect((await store.datasources.get(project.id, "warehouse"))?.host).toBe("db.internal");
    expect((await store.datasources.create(other.id, warehouse, actor)).projectId).toBe(other.id);
    await store.datasources.create(project.id, { ...warehouse, name: "second" }, actor);
    await expect(store.datasources.update(project.id, "second", { name: "warehouse" }, actor)).rejects.toBeInstanceOf(ConflictError);
    await expect(store.datasources.create(9999, warehouse, actor)).rejects.toThrow("project 9999 does not exist");
  });

  test("a project with datasources is not empty: delete refuses it, saying so, until they are gone", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    await store.datasources.create(project.id, warehouse, actor);
    await expect(store.projects.delete(project.id, actor)).rejects.toThrow('project "etl" still holds 1 datasource: delete them before deleting the project');
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    await expect(store.projects.delete(project.id, actor)).rejects.toThrow('project "etl" still holds 1 workflow and 1 datasource');
    await store.workflows.setReleaseState(workflow.id, "OFFLINE", actor);
    await store.workflows.delete(workflow.id, actor);
    await store.datasources.delete(project.id, "warehouse", actor);
    await store.projects.delete(project.id, actor);
    expect(await store.projects.getById(project.id)).toBeNull();
  });

  test("with a secret key the password is encrypted at rest; without the key it cannot be read back", async () => {
    await using store = await freshStore(dialect);
    const keyed = await openStore({ url: store.url, migrate: false, secretKey: "k1" });
    const wrongKey = await openStore({ url: store.url, migrate: false, secretKey: "k2" });
    try {
      const { project, actor } = await userWithProject(store);
      await store.datasources.create(project.id, { ...warehouse, name: "plain" }, actor);
      await keyed.datasources.create(project.id, warehouse, actor);
      const stored = await rawQuery(store.url, "SELECT name, password FROM datasources ORDER BY name");
      expect(stored.map((r) => r.name)).toEqual(["plain", "warehouse"]);
      expect(String(stored[0]!.password)).toBe(`plain:${SECRET}`);
      expect(String(stored[1]!.password)).toMatch(/^aes-gcm:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
      expect(String(stored[1]!.password)).not.toContain(SECRET);
      expect((await keyed.datasources.getConnection(project.id, "warehouse"))?.password).toBe(SECRET);
      // A key added later still reads passwords written without one.
      expect((await keyed.datasources.getConnection(project.id, "plain"))?.password).toBe(SECRET);
      await expect(store.datasources.getConnection(project.id, "warehouse")).rejects.toThrow("no secret key is configured");
      await expect(wrongKey.datasources.getConnection(project.id, "warehouse")).rejects.toBeInstanceOf(StoreError);
      await expect(wrongKey.datasources.getConnection(project.id, "warehouse")).rejects.toThrow("not the one it was written with");
      expect(await keyed.datasources.getConnection(project.id, "nope")).toBeNull();
    } finally {
      await keyed.close();
      await wrongKey.close();
    }
  });
});

test("the codec uses a fresh IV per write and detects tampering", () => {
  const codec = passwordCodec("key");
  const a = codec.seal("pw");
  expect(a).not.toBe(codec.seal("pw"));
  expect(codec.open(a)).toBe("pw");
  const [scheme, iv, body] = a.split(":");
  const flipped = Buffer.from(body!, "base64");
  flipped[0] = flipped[0]! ^ 1;
  expect(() => codec.open(`${scheme}:${iv}:${flipped.toString("base64")}`)).toThrow("cannot decrypt");
  expect(() => codec.open("rot13:abc")).toThrow("unknown format");
});
