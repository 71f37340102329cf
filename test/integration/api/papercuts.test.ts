// The README-tour papercuts of issue 11, through the real API: a wrong method gets 405 with Allow;
// the OpenAPI document has servers, a license and operationIds an SDK generator can use; the
// rendered reference at /api/docs works offline in a real browser; an instance lists its tasks in
// DAG order; an identical PUT of a workflow stores no new version and says so.

import { describe, expect, test } from "bun:test";
import { routeRegistry } from "../../../src/api/routes/index.ts";
import { launchChromium } from "../../ui/harness.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

describe("405, OpenAPI names, /api/docs", () => {
  test("a served path asked with another method is 405 with Allow; an unknown path stays 404", async () => {
    await using h = await apiHarness("sqlite");
    const me = await h.call("POST", "/api/v1/me");
    expectError(me, 405, "METHOD_NOT_ALLOWED", "POST is not a method of /api/v1/me: it takes GET, HEAD");
    expect(me.headers.get("allow")).toBe("GET, HEAD");
    expect((await h.call("DELETE", "/api/v1/projects")).headers.get("allow")).toBe("GET, HEAD, POST");
    const instance = await h.call("PUT", "/api/v1/workflow-instances/7");
    expect(instance.status).toBe(405);
    expect(instance.headers.get("allow")).toBe("DELETE, GET, HEAD");
    expect((await h.call("GET", "/api/v1/login", { token: null })).headers.get("allow")).toBe("POST");
    expectError(await h.call("GET", "/api/v1/nothing-here"), 404, "NOT_FOUND");
    expectError(await h.call("POST", "/api/v1/projects/x/nothing"), 404, "NOT_FOUND");
  });

  test("OpenAPI: servers, license, and a declared camelCase operationId per operation, unique", async () => {
    await using h = await apiHarness("sqlite");
    const doc = (await h.call("GET", "/api/v1/openapi.json", { token: null })).json;
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }]);
    expect(doc.info.license).toEqual({ name: "Apache License 2.0", identifier: "Apache-2.0" });
    const ids: string[] = [];
    for (const item of Object.values(doc.paths) as Record<string, { operationId: string }>[]) for (const op of Object.values(item)) ids.push(op.operationId);
    expect(ids).toHaveLength(routeRegistry.length);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z]*$/);
    const op = (path: string, method: string) => doc.paths[path][method].operationId;
    expect(op("/api/v1/projects/{project}/workflows", "post")).toBe("createWorkflow");
    expect(op("/api/v1/projects/{project}/workflows/{name}/run", "post")).toBe("runWorkflow");
    expect(op("/api/v1/projects/{project}/workflow-instances", "get")).toBe("listWorkflowInstances");
    expect(op("/api/v1/workflow-instances/{id}/recover-failed", "post")).toBe("recoverFailedWorkflowInstance");
    expect(op("/api/v1/workflow-instances/{id}", "delete")).toBe("deleteWorkflowInstance");
  });

  test("/api/docs renders every operation in a real browser, asking nothing of any other origin", async () => {
    await using h = await apiHarness("sqlite");
    const page = await h.app.request("/api/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).not.toMatch(/(src|href)="(https?:)?\/\//);
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => h.app.fetch(req) });
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      const origins = new Set<string>();
      tab.on("request", (r) => origins.add(new URL(r.url()).origin));
      await tab.goto(`http://127.0.0.1:${server.port}/api/docs`);
      // Operations only (their search text has spaces; the schemas' does not).
      await tab.waitForFunction(`document.querySelectorAll("details.op[data-search*=' ']").length === ${routeRegistry.length}`, undefined, { timeout: 20_000 });
      expect(await tab.textContent("#title")).toBe("porpoise API test");
      expect(await tab.textContent("#meta")).toContain("license Apache License 2.0");
      const run = tab.locator("details.op", { hasText: "/api/v1/projects/{project}/workflows/{name}/run" });
      await run.locator("summary").first().click();
      expect(await run.textContent()).toContain("operationId: runWorkflow");
      await tab.fill("#filter", "listworkflowinstances");
      expect(await tab.locator("details.op:visible").count()).toBe(1);
      expect([...origins]).toEqual([`http://127.0.0.1:${server.port}`]);
    } finally {
      await browser.close();
      server.stop(true);
    }
  }, 60_000);
});

describe.each(dialects)("DAG order and identical PUT (%s)", (dialect) => {
  test("an instance lists its tasks in DAG order (a task after its deps), not by name", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await h.call("POST", "/api/v1/projects", { body: { name: "tour" } });
    const tasks = [
      { name: "zeta-extract", type: "noop" },
      { name: "beta-load", type: "noop", deps: ["middle-transform"] },
      { name: "middle-transform", type: "noop", deps: ["zeta-extract"] },
      { name: "alpha-report", type: "noop", deps: ["beta-load"] },
    ];
    expect((await h.call("POST", "/api/v1/projects/tour/workflows", { body: { name: "chain", tasks } })).status).toBe(201);
    const { id } = (await h.call("POST", "/api/v1/projects/tour/workflows/chain/run", { body: {} })).json;
    const done = await h.waitFor("the run to succeed", async () => {
      const v = (await h.call("GET", `/api/v1/workflow-instances/${id}`)).json;
      return v.state === "SUCCESS" ? v : null;
    });
    expect(done.tasks.map((t: { taskName: string }) => t.taskName)).toEqual(["zeta-extract", "middle-transform", "beta-load", "alpha-report"]);
  }, 60_000);

  test("an identical PUT stores no version and says unchanged; a real change does; key order does not matter", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/projects", { body: { name: "tour" } });
    const v1 = { name: "etl", description: "nightly", tasks: [{ name: "a", type: "shell", script: "echo a" }] };
    const created = await h.call("POST", "/api/v1/projects/tour/workflows", { body: v1 });
    expect(created.json).toMatchObject({ currentVersion: 1, unchanged: false });
    const same = await h.call("PUT", "/api/v1/projects/tour/workflows/etl", { body: v1 });
    expect(same.status).toBe(200);
    expect(same.json).toMatchObject({ currentVersion: 1, latestVersion: 1, unchanged: true });
    const yaml = "tasks:\n  - script: echo a\n    type: shell\n    name: a\ndescription: nightly\nname: etl\n";
    const reordered = await h.call("PUT", "/api/v1/projects/tour/workflows/etl", { body: yaml, headers: { "content-type": "application/yaml" } });
    expect(reordered.json).toMatchObject({ currentVersion: 1, unchanged: true });
    const changed = await h.call("PUT", "/api/v1/projects/tour/workflows/etl", { body: { ...v1, description: "hourly" } });
    expect(changed.json).toMatchObject({ currentVersion: 2, latestVersion: 2, unchanged: false });
    expect((await h.call("PUT", "/api/v1/projects/tour/workflows/etl", { body: { ...v1, description: "hourly" } })).json).toMatchObject({ currentVersion: 2, unchanged: true });
    expect((await h.call("GET", "/api/v1/projects/tour/workflows/etl/versions")).json.total).toBe(2);
    const audits = (await h.call("GET", "/api/v1/projects/tour/audit")).json.items.filter((e: { action: string }) => e.action === "workflow.update");
    expect(audits).toHaveLength(1);
    // Rolled back to v1: a PUT of v1's definition is unchanged against the current version (1).
    await h.call("POST", "/api/v1/projects/tour/workflows/etl/current-version", { body: { version: 1 } });
    expect((await h.call("PUT", "/api/v1/projects/tour/workflows/etl", { body: v1 })).json).toMatchObject({ currentVersion: 1, latestVersion: 2, unchanged: true });
  }, 60_000);
});
