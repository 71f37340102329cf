// Project params through the API (GET/PUT /projects/:project/params) and the resolved params
// of a task attempt as the API shows them, on a real engine (both dialects).

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

const P = "/api/v1/projects/analytics";

describe.each(dialects)("API project params (%s)", (dialect) => {
  test("viewers read, developers replace; bad names and non-members are refused and nothing stored is lost", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
    const dev = await h.user("devon");
    const viewer = await h.user("vera");
    const stranger = await h.user("sam");
    await h.call("POST", `${P}/members`, { body: { user: "devon", role: "developer" } });
    await h.call("POST", `${P}/members`, { body: { user: "vera", role: "viewer" } });

    expect((await h.call("GET", `${P}/params`, { token: viewer.token })).json).toEqual({ project: "analytics", params: {} });
    const put = await h.call("PUT", `${P}/params`, { token: dev.token, body: { params: { region: "eu", "dw.name": "dw_${region}", batch: 500 } } });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ project: "analytics", params: { region: "eu", "dw.name": "dw_${region}", batch: "500" } });
    expect((await h.call("GET", `${P}/params`, { token: viewer.token })).json.params).toEqual({ region: "eu", "dw.name": "dw_${region}", batch: "500" });
    expect((await h.call("GET", P, { token: viewer.token })).json.params).toEqual({ region: "eu", "dw.name": "dw_${region}", batch: "500" });

    expectError(await h.call("PUT", `${P}/params`, { token: viewer.token, body: { params: { region: "us" } } }), 403, "FORBIDDEN");
    expectError(await h.call("GET", `${P}/params`, { token: stranger.token }), 404, "NOT_FOUND");
    const badName = expectError(await h.call("PUT", `${P}/params`, { token: dev.token, body: { params: { "1st": "x" } } }), 400, "VALIDATION_FAILED");
    expect(badName.details[0]!.path).toContain("params");
    expect(badName.message).toContain("parameter names");
    expectError(await h.call("PUT", `${P}/params`, { token: dev.token, body: { region: "us" } }), 400, "VALIDATION_FAILED");
    expectError(await h.call("PUT", `${P}/params`, { token: dev.token, body: { params: { region: { nested: 1 } } } }), 400, "VALIDATION_FAILED");
    expect((await h.call("GET", `${P}/params`, { token: dev.token })).json.params).toEqual({ region: "eu", "dw.name": "dw_${region}", batch: "500" });

    expect((await h.call("PUT", `${P}/params`, { token: dev.token, body: { params: {} } })).json.params).toEqual({});
  });

  test("a run sees project params below workflow globals; GET /task-instances/:id shows the resolved params", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
    await h.call("PUT", `${P}/params`, { body: { params: { region: "eu", tier: "project", table: "t_${region}_$[yyyyMMdd]" } } });
    const saved = await h.call("POST", `${P}/workflows`, {
      body: { name: "etl", params: { tier: "global" }, tasks: [{ name: "load", type: "shell", script: "echo '#{setValue(got=${table}/${tier})}'" }] },
    });
    expect(saved.status).toBe(201);
    const started = await h.call("POST", `${P}/workflows/etl/run`, { body: {} });
    expect(started.status).toBe(201);
    const id = started.json.id as number;
    const done = await h.waitFor("the run to end", async () => {
      const reply = await h.call("GET", `/api/v1/workflow-instances/${id}`);
      return ["SUCCESS", "FAILURE"].includes(reply.json.state) ? reply.json : null;
    });
    expect(done.state).toBe("SUCCESS");
    const taskId = done.tasks.find((t: { taskName: string }) => t.taskName === "load").id as number;
    const attempt = (await h.call("GET", `/api/v1/task-instances/${taskId}`)).json;
    const day = (attempt.params["system.biz.curdate"] as string) ?? "";
    expect(day).toMatch(/^\d{8}$/);
    expect(attempt.params).toMatchObject({
      region: "eu",
      tier: "global",
      table: `t_eu_${day}`,
      "system.project.name": "analytics",
      "system.workflow.definition.name": "etl",
      "system.workflow.instance.id": String(id),
      "system.task.definition.name": "load",
    });
    expect(attempt.outParams).toEqual({ got: `t_eu_${day}/global` });
  });
});
