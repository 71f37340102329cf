// Writes made through the API are in the audit log: who, what, when, and the
// workflow versions before and after. Refused writes leave no entry.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, twoTaskWorkflow } from "./harness.ts";

type Entry = { action: string; actorName: string; actorId: number | null; versionBefore: number | null; versionAfter: number | null; projectId: number | null; at: string };

describe.each(dialects)("API audit log on %s", (dialect) => {
  test("project writes are recorded with the actor and versions, newest first, visible to members", async () => {
    await using h = await apiHarness(dialect);
    const dev = await h.user("devon");
    const viewer = await h.user("vera");
    const project = (await h.call("POST", "/api/v1/projects", { body: { name: "p" } })).json;
    await h.call("POST", "/api/v1/projects/p/members", { body: { user: "devon", role: "developer" } });
    await h.call("POST", "/api/v1/projects/p/members", { body: { user: "vera", role: "viewer" } });
    const WF = "/api/v1/projects/p/workflows";
    await h.call("POST", WF, { token: dev.token, body: twoTaskWorkflow("etl") });
    await h.call("PUT", `${WF}/etl`, { token: dev.token, body: twoTaskWorkflow("etl", "v2") });
    await h.call("POST", `${WF}/etl/current-version`, { token: dev.token, body: { version: 1 } });
    await h.call("POST", `${WF}/etl/release`, { token: dev.token, body: { state: "OFFLINE" } });
    await h.call("DELETE", `${WF}/etl`, { token: dev.token });

    const before = h.clock.now.getTime();
    const log = await h.call("GET", "/api/v1/projects/p/audit", { token: viewer.token });
    expect(log.status).toBe(200);
    const entries: Entry[] = log.json.items;
    expect(entries.map((e) => e.action)).toEqual([
      "workflow.delete",
      "workflow.release",
      "workflow.set_current_version",
      "workflow.update",
      "workflow.create",
      "member.add",
      "member.add",
      "project.create",
    ]);
    expect(log.json.total).toBe(8);
    for (const e of entries) {
      expect(e.projectId).toBe(project.id);
      expect(Math.abs(Date.parse(e.at) - before)).toBeLessThan(10 * 60_000);
    }
    const byAction = (a: string) => entries.find((e) => e.action === a)!;
    expect(byAction("workflow.create")).toMatchObject({ actorName: "devon", actorId: dev.user.id, versionBefore: null, versionAfter: 1 });
    expect(byAction("workflow.update")).toMatchObject({ actorName: "devon", versionBefore: 1, versionAfter: 2 });
    expect(byAction("workflow.set_current_version")).toMatchObject({ versionBefore: 2, versionAfter: 1 });
    expect(byAction("workflow.delete")).toMatchObject({ actorName: "devon", versionBefore: 1 });
    expect(byAction("project.create")).toMatchObject({ actorName: "admin" });

    const page = await h.call("GET", "/api/v1/projects/p/audit?limit=3&offset=3", { token: viewer.token });
    expect(page.json).toMatchObject({ total: 8, limit: 3, offset: 3 });
    expect(page.json.items.map((e: Entry) => e.action)).toEqual(entries.slice(3, 6).map((e) => e.action));
  });

  test("refused writes leave no audit entry", async () => {
    await using h = await apiHarness(dialect);
    const viewer = await h.user("vera");
    await h.call("POST", "/api/v1/projects", { body: { name: "p" } });
    await h.call("POST", "/api/v1/projects/p/members", { body: { user: "vera", role: "viewer" } });
    await h.call("POST", "/api/v1/projects/p/workflows", { body: twoTaskWorkflow("etl") });
    const count = async () => (await h.call("GET", "/api/v1/projects/p/audit")).json.total as number;
    const start = await count();

    expectError(await h.call("POST", "/api/v1/projects/p/workflows", { body: twoTaskWorkflow("etl") }), 409, "CONFLICT");
    expectError(await h.call("DELETE", "/api/v1/projects/p/workflows/etl"), 409, "CONFLICT");
    expectError(await h.call("DELETE", "/api/v1/projects/p"), 409, "CONFLICT");
    expectError(await h.call("PUT", "/api/v1/projects/p/workflows/etl?expectedVersion=7", { body: twoTaskWorkflow("etl") }), 409, "CONFLICT");
    expectError(await h.call("POST", "/api/v1/projects/p/workflows", { token: viewer.token, body: twoTaskWorkflow("x") }), 403, "FORBIDDEN");
    expectError(await h.call("POST", "/api/v1/projects/p/workflows", { body: { name: "bad", tasks: [{ name: "a", type: "nope" }] } }), 400, "VALIDATION_FAILED");
    expect(await count()).toBe(start);
  });

  test("the whole log is for administrators, filterable by project", async () => {
    await using h = await apiHarness(dialect);
    const user = await h.user("uma");
    await h.call("POST", "/api/v1/users", { body: { name: "newbie", password: "newbie-password" } });
    await h.call("POST", "/api/v1/projects", { token: user.token, body: { name: "mine" } });
    await h.call("POST", "/api/v1/projects", { body: { name: "other" } });

    const all = await h.call("GET", "/api/v1/audit?limit=500");
    const actions = all.json.items.map((e: Entry) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["user.create", "token.create", "project.create"]));
    expect(all.json.items.find((e: Entry) => e.action === "user.create" && e.actorName === "admin")).toBeDefined();
    const mine = await h.call("GET", "/api/v1/audit?project=mine");
    expect(mine.json.items.map((e: Entry) => `${e.action}:${e.actorName}`)).toEqual(["project.create:uma"]);
    expectError(await h.call("GET", "/api/v1/audit?project=ghost"), 404, "NOT_FOUND");
    expectError(await h.call("GET", "/api/v1/audit", { token: user.token }), 403, "FORBIDDEN");
    // A project's own log is its own: "other" does not show up in "mine".
    expect((await h.call("GET", "/api/v1/projects/mine/audit", { token: user.token })).json.total).toBe(1);
  });
});
