// Datasource CRUD over the API: the password goes in and never comes out, in no response,
// list, audit entry or error, and bad input is refused without touching what is stored.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const PASSWORD = "pw-Very-Secret-7781";
const base = "/api/v1/projects/analytics/datasources";
const good = { name: "warehouse", host: "db.internal", database: "dw", user: "etl", password: PASSWORD, params: { sslmode: "require", connect_timeout: 5 } };

async function withProject(h: Harness) {
  expect((await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).status).toBe(201);
}

describe.each(dialects)("API datasources on %s", (dialect) => {
  test("create, get, list, update and delete; the password is write-only", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    const created = await h.call("POST", base, { body: good });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      name: "warehouse",
      type: "postgres",
      host: "db.internal",
      port: 5432,
      database: "dw",
      user: "etl",
      hasPassword: true,
      params: { sslmode: "require", connect_timeout: "5" },
      description: "",
    });
    expect(created.json).not.toHaveProperty("password");
    expect(created.json).not.toHaveProperty("projectId");
    expect(created.json.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);

    const got = await h.call("GET", `${base}/warehouse`);
    expect(got.json).toEqual(created.json);
    const list = await h.call("GET", base);
    expect(list.json).toMatchObject({ total: 1, limit: 50, offset: 0, items: [created.json] });

    // Fields left out are kept, the password included; the worker still gets it.
    const moved = await h.call("PUT", `${base}/warehouse`, { body: { host: "db2.internal", port: 6432 } });
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ host: "db2.internal", port: 6432, database: "dw", hasPassword: true });
    const project = (await h.call("GET", "/api/v1/projects/analytics")).json;
    expect(await h.store.datasources.getConnection(project.id, "warehouse")).toMatchObject({ host: "db2.internal", password: PASSWORD });

    const renamed = await h.call("PUT", `${base}/warehouse`, { body: { name: "dw-main", password: null } });
    expect(renamed.json).toMatchObject({ name: "dw-main", hasPassword: false });
    expectError(await h.call("GET", `${base}/warehouse`), 404, "NOT_FOUND", /warehouse/);

    // Nothing anyone can read says the password: responses above, the audit log.
    const audit = await h.call("GET", "/api/v1/projects/analytics/audit?limit=500");
    expect(audit.json.items.map((a: { action: string }) => a.action)).toEqual(
      expect.arrayContaining(["datasource.create", "datasource.update"]),
    );
    for (const reply of [created, got, list, moved, renamed, audit]) expect(reply.text).not.toContain(PASSWORD);

    expect((await h.call("DELETE", `${base}/dw-main`)).status).toBe(204);
    expectError(await h.call("DELETE", `${base}/dw-main`), 404, "NOT_FOUND", /dw-main/);
    expect((await h.call("GET", base)).json.total).toBe(0);
  });

  test("bad input is 400 naming the field, never echoing the password; nothing stored changes", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    expect((await h.call("POST", base, { body: good })).status).toBe(201);
    const before = (await h.call("GET", `${base}/warehouse`)).json;

    const cases: [unknown, string][] = [
      [{ ...good, name: "other", port: 70000 }, "port"],
      [{ ...good, name: "other", port: "5432x" }, "port"],
      [{ ...good, name: "other", host: "" }, "host"],
      [{ ...good, name: "other", host: "db internal" }, "host"],
      [{ ...good, name: "other", type: "mysql" }, "type"],
      [{ ...good, name: "" }, "name"],
      [{ ...good, name: ".." }, "name"],
      [{ ...good, name: "other", passwrd: "x" }, "passwrd"],
      [{ ...good, name: "other", projectId: 1 }, "projectId"],
      [{ ...good, name: "other", params: { "bad key": "x" } }, "params"],
      [{ name: "other", host: "h", user: "u" }, "database"],
      [{ ...good, name: "other", password: 123 }, "password"],
      [{ ...good, name: "other", password: "x".repeat(1001) + PASSWORD }, "password"],
    ];
    for (const [body, field] of cases) {
      const reply = await h.call("POST", base, { body });
      const err = expectError(reply, 400, "VALIDATION_FAILED");
      expect({ field, paths: err.details.map((d) => d.path).join(" ") }).toEqual({ field, paths: expect.stringContaining(field) });
      expect(reply.text).not.toContain(PASSWORD);
      expect(reply.text).not.toContain("123,");
    }
    // A typed password is not echoed back in a type error either.
    const typed = await h.call("POST", base, { body: { ...good, name: "other", password: 9988776655 } });
    expect(typed.text).not.toContain("9988776655");
    // A password in broken JSON is not quoted in the syntax error.
    const broken = await h.call("POST", base, { body: `{"name":"x","host":"h","database":"d","user":"u","password": ${PASSWORD}}`, headers: { "content-type": "application/json" } });
    expectError(broken, 400, "VALIDATION_FAILED", /malformed JSON/);
    expect(broken.text).not.toContain(PASSWORD);

    expectError(await h.call("PUT", `${base}/warehouse`, { body: {} }), 400, "VALIDATION_FAILED", /at least one field/);
    expectError(await h.call("PUT", `${base}/warehouse`, { body: { port: 0 } }), 400, "VALIDATION_FAILED", /port/);
    expectError(await h.call("POST", base, { body: good }), 409, "CONFLICT", /warehouse/);
    expect((await h.call("POST", base, { body: { ...good, name: "second" } })).status).toBe(201);
    expectError(await h.call("PUT", `${base}/second`, { body: { name: "warehouse" } }), 409, "CONFLICT", /warehouse/);
    expectError(await h.call("PUT", `${base}/nope`, { body: { port: 1 } }), 404, "NOT_FOUND", /nope/);

    expect((await h.call("GET", `${base}/warehouse`)).json).toEqual(before);
    expect((await h.call("GET", base)).json.total).toBe(2);
  });

  test("viewers read, developers write, outsiders get 404", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    const viewer = await h.user("vic");
    const dev = await h.user("devi");
    const outsider = await h.user("otto");
    await h.call("POST", "/api/v1/projects/analytics/members", { body: { user: "vic", role: "viewer" } });
    await h.call("POST", "/api/v1/projects/analytics/members", { body: { user: "devi", role: "developer" } });

    expect((await h.call("POST", base, { token: dev.token, body: good })).status).toBe(201);
    expect((await h.call("GET", `${base}/warehouse`, { token: viewer.token })).json.hasPassword).toBe(true);
    expectError(await h.call("POST", base, { token: viewer.token, body: { ...good, name: "v" } }), 403, "FORBIDDEN", /developer/);
    expectError(await h.call("PUT", `${base}/warehouse`, { token: viewer.token, body: { port: 1 } }), 403, "FORBIDDEN");
    expectError(await h.call("DELETE", `${base}/warehouse`, { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await h.call("GET", base, { token: outsider.token }), 404, "NOT_FOUND");
    expectError(await h.call("GET", `${base}/warehouse`, { token: outsider.token }), 404, "NOT_FOUND");
    expect((await h.call("GET", `${base}/warehouse`)).json).toMatchObject({ port: 5432, host: "db.internal" });
  });

  test("a project with a datasource cannot be deleted until the datasource is gone", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    await h.call("POST", base, { body: good });
    expectError(await h.call("DELETE", "/api/v1/projects/analytics"), 409, "CONFLICT");
    await h.call("DELETE", `${base}/warehouse`);
    expect((await h.call("DELETE", "/api/v1/projects/analytics")).status).toBe(204);
  });
});
