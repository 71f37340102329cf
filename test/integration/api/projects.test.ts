// Projects and members: who sees what, who may change what.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, twoTaskWorkflow } from "./harness.ts";

describe.each(dialects)("API projects and members on %s", (dialect) => {
  test("create, get, list, update and delete a project; the creator is its owner", async () => {
    await using h = await apiHarness(dialect);
    const ann = await h.user("ann");
    const created = await h.call("POST", "/api/v1/projects", { token: ann.token, body: { name: "sales", description: "revenue" } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "sales", description: "revenue", params: {}, createdBy: ann.user.id });
    expect((await h.call("GET", "/api/v1/projects/sales/members", { token: ann.token })).json.items).toEqual([
      expect.objectContaining({ userName: "ann", role: "owner" }),
    ]);
    expect((await h.call("GET", "/api/v1/projects/sales", { token: ann.token })).json).toEqual(created.json);

    const patched = await h.call("PATCH", "/api/v1/projects/sales", {
      token: ann.token,
      body: { description: "revenue, EU", params: { region: "eu", "system.tz": "UTC" } },
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ name: "sales", description: "revenue, EU", params: { region: "eu", "system.tz": "UTC" } });
    const renamed = await h.call("PATCH", "/api/v1/projects/sales", { token: ann.token, body: { name: "sales-eu" } });
    expect(renamed.json.name).toBe("sales-eu");
    expectError(await h.call("GET", "/api/v1/projects/sales", { token: ann.token }), 404, "NOT_FOUND");

    expect((await h.call("DELETE", "/api/v1/projects/sales-eu", { token: ann.token })).status).toBe(204);
    expectError(await h.call("GET", "/api/v1/projects/sales-eu", { token: ann.token }), 404, "NOT_FOUND");
  });

  test("users list only their projects, administrators all of them, with paging", async () => {
    await using h = await apiHarness(dialect);
    const ann = await h.user("ann");
    const ben = await h.user("ben");
    for (const name of ["a1", "a2", "a3"]) await h.call("POST", "/api/v1/projects", { token: ann.token, body: { name } });
    await h.call("POST", "/api/v1/projects", { token: ben.token, body: { name: "b1" } });

    const annList = await h.call("GET", "/api/v1/projects", { token: ann.token });
    expect(annList.json.total).toBe(3);
    expect(annList.json.items.map((p: { name: string }) => p.name).sort()).toEqual(["a1", "a2", "a3"]);
    const benList = await h.call("GET", "/api/v1/projects", { token: ben.token });
    expect(benList.json.items.map((p: { name: string }) => p.name)).toEqual(["b1"]);
    expect(benList.text).not.toContain("a1");

    const all = await h.call("GET", "/api/v1/projects?limit=3");
    expect(all.json).toMatchObject({ total: 4, limit: 3, offset: 0 });
    expect(all.json.items).toHaveLength(3);
    expect((await h.call("GET", "/api/v1/projects?limit=3&offset=3")).json.items).toHaveLength(1);
    // Administrators act as owners of projects they are not members of.
    expect((await h.call("PATCH", "/api/v1/projects/b1", { body: { description: "fixed by admin" } })).status).toBe(200);
  });

  test("a project that holds workflows cannot be deleted (409 naming why) and stays intact", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/projects", { body: { name: "busy" } });
    expect((await h.call("POST", "/api/v1/projects/busy/workflows", { body: twoTaskWorkflow("etl") })).status).toBe(201);
    const refused = expectError(await h.call("DELETE", "/api/v1/projects/busy"), 409, "CONFLICT");
    expect(refused.message).toMatch(/workflow/);
    expect((await h.call("GET", "/api/v1/projects/busy/workflows/etl")).status).toBe(200);
  });

  test("duplicate names and bad project input are refused without changing anything", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/projects", { body: { name: "one", description: "first" } });
    expectError(await h.call("POST", "/api/v1/projects", { body: { name: "one" } }), 409, "CONFLICT", /one/);
    await h.call("POST", "/api/v1/projects", { body: { name: "two" } });
    expectError(await h.call("PATCH", "/api/v1/projects/two", { body: { name: "one" } }), 409, "CONFLICT");
    for (const [body, path] of [
      [{ name: "a/b" }, "name"],
      [{ name: ".." }, "name"],
      [{ name: "." }, "name"],
      [{ name: " padded" }, "name"],
      [{ name: "" }, "name"],
      [{ name: "x".repeat(201) }, "name"],
      [{ name: "ok", description: 5 }, "description"],
      [{ name: "ok", owner: "someone" }, "owner"],
    ] as const) {
      const err = expectError(await h.call("POST", "/api/v1/projects", { body }), 400, "VALIDATION_FAILED");
      expect(err.details.map((d) => d.path)).toContain(path);
    }
    expectError(await h.call("PATCH", "/api/v1/projects/one", { body: {} }), 400, "VALIDATION_FAILED", /at least one/);
    const badParams = expectError(await h.call("PATCH", "/api/v1/projects/one", { body: { params: { "1x": "v", ok: 3 } } }), 400, "VALIDATION_FAILED");
    expect(badParams.details.length).toBeGreaterThanOrEqual(2);
    expect((await h.call("GET", "/api/v1/projects/one")).json).toMatchObject({ description: "first", params: {} });
    expect((await h.call("GET", "/api/v1/projects")).json.total).toBe(2);
  });

  test("names are display names: spaces and accents work through percent-encoded paths", async () => {
    await using h = await apiHarness(dialect);
    const name = "Ventes été 2024";
    expect((await h.call("POST", "/api/v1/projects", { body: { name } })).status).toBe(201);
    const path = `/api/v1/projects/${encodeURIComponent(name)}`;
    expect((await h.call("GET", path)).json.name).toBe(name);
    expect((await h.call("POST", `${path}/workflows`, { body: twoTaskWorkflow("chargement du soir") })).status).toBe(201);
    const wf = await h.call("GET", `${path}/workflows/${encodeURIComponent("chargement du soir")}`);
    expect(wf.json.name).toBe("chargement du soir");
    const dots = expectError(await h.call("POST", `${path}/workflows`, { body: twoTaskWorkflow("..") }), 400, "VALIDATION_FAILED");
    expect(dots.details[0]!.path).toBe("name");
  });

  test("owners add members, change roles and remove them; the last owner stays", async () => {
    await using h = await apiHarness(dialect);
    const owner = await h.user("olga");
    await h.user("dev");
    await h.call("POST", "/api/v1/projects", { token: owner.token, body: { name: "p" } });
    const added = await h.call("POST", "/api/v1/projects/p/members", { token: owner.token, body: { user: "dev", role: "developer" } });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ userName: "dev", role: "developer" });
    expectError(await h.call("POST", "/api/v1/projects/p/members", { token: owner.token, body: { user: "dev", role: "viewer" } }), 409, "CONFLICT");
    expectError(await h.call("POST", "/api/v1/projects/p/members", { token: owner.token, body: { user: "ghost", role: "viewer" } }), 404, "NOT_FOUND", /ghost/);
    const badRole = expectError(await h.call("POST", "/api/v1/projects/p/members", { token: owner.token, body: { user: "dev", role: "admin" } }), 400, "VALIDATION_FAILED");
    expect(badRole.details[0]!.path).toBe("role");

    const members = await h.call("GET", "/api/v1/projects/p/members?limit=1", { token: owner.token });
    expect(members.json).toMatchObject({ total: 2, limit: 1, offset: 0 });
    expect((await h.call("PATCH", "/api/v1/projects/p/members/dev", { token: owner.token, body: { role: "viewer" } })).json.role).toBe("viewer");
    expectError(await h.call("PATCH", "/api/v1/projects/p/members/ghost", { token: owner.token, body: { role: "viewer" } }), 404, "NOT_FOUND");
    expectError(await h.call("PATCH", "/api/v1/projects/p/members/olga", { token: owner.token, body: { role: "viewer" } }), 409, "CONFLICT", /last owner/);
    expectError(await h.call("DELETE", "/api/v1/projects/p/members/olga", { token: owner.token }), 409, "CONFLICT", /last owner/);
    expect((await h.call("DELETE", "/api/v1/projects/p/members/dev", { token: owner.token })).status).toBe(204);
    expectError(await h.call("DELETE", "/api/v1/projects/p/members/dev", { token: owner.token }), 404, "NOT_FOUND");
    expect((await h.call("GET", "/api/v1/projects/p/members", { token: owner.token })).json.items).toEqual([
      expect.objectContaining({ userName: "olga", role: "owner" }),
    ]);
  });

  test("role limits: viewers read, developers write workflows, only owners manage the project", async () => {
    await using h = await apiHarness(dialect);
    const owner = await h.user("own");
    const dev = await h.user("dev");
    const viewer = await h.user("view");
    await h.call("POST", "/api/v1/projects", { token: owner.token, body: { name: "p" } });
    await h.call("POST", "/api/v1/projects/p/members", { token: owner.token, body: { user: "dev", role: "developer" } });
    await h.call("POST", "/api/v1/projects/p/members", { token: owner.token, body: { user: "view", role: "viewer" } });
    await h.call("POST", "/api/v1/projects/p/workflows", { token: owner.token, body: twoTaskWorkflow("wf") });

    for (const path of ["/api/v1/projects/p", "/api/v1/projects/p/members", "/api/v1/projects/p/workflows", "/api/v1/projects/p/workflows/wf",
      "/api/v1/projects/p/workflows/wf/versions", "/api/v1/projects/p/workflows/wf/versions/1", "/api/v1/projects/p/audit"]) {
      expect({ path, status: (await h.call("GET", path, { token: viewer.token })).status }).toEqual({ path, status: 200 });
    }
    const viewerWrites: [string, string, unknown?][] = [
      ["POST", "/api/v1/projects/p/workflows", twoTaskWorkflow("new")],
      ["PUT", "/api/v1/projects/p/workflows/wf", twoTaskWorkflow("wf")],
      ["POST", "/api/v1/projects/p/workflows/wf/current-version", { version: 1 }],
      ["POST", "/api/v1/projects/p/workflows/wf/release", { state: "OFFLINE" }],
      ["DELETE", "/api/v1/projects/p/workflows/wf"],
    ];
    for (const [method, path, body] of viewerWrites) {
      expectError(await h.call(method, path, { token: viewer.token, body }), 403, "FORBIDDEN", /needs the developer role.*you are viewer/);
    }
    const ownerOnly: [string, string, unknown?][] = [
      ["PATCH", "/api/v1/projects/p", { description: "x" }],
      ["DELETE", "/api/v1/projects/p"],
      ["POST", "/api/v1/projects/p/members", { user: "admin", role: "owner" }],
      ["PATCH", "/api/v1/projects/p/members/view", { role: "owner" }],
      ["DELETE", "/api/v1/projects/p/members/own"],
    ];
    for (const [method, path, body] of ownerOnly) {
      expectError(await h.call(method, path, { token: dev.token, body }), 403, "FORBIDDEN", /needs the owner role.*you are developer/);
      expectError(await h.call(method, path, { token: viewer.token, body }), 403, "FORBIDDEN", /needs the owner role/);
    }
    // Nothing changed.
    const members = await h.call("GET", "/api/v1/projects/p/members", { token: owner.token });
    expect(members.json.items.map((m: { userName: string; role: string }) => `${m.userName}:${m.role}`)).toEqual(["dev:developer", "own:owner", "view:viewer"]);
    expect((await h.call("GET", "/api/v1/projects/p/workflows/wf", { token: owner.token })).json).toMatchObject({ currentVersion: 1, releaseState: "ONLINE" });

    // Developers do write workflows.
    expect((await h.call("PUT", "/api/v1/projects/p/workflows/wf", { token: dev.token, body: twoTaskWorkflow("wf", "echo v2") })).status).toBe(200);
    expect((await h.call("POST", "/api/v1/projects/p/workflows", { token: dev.token, body: twoTaskWorkflow("dev-wf") })).status).toBe(201);
  });
});
