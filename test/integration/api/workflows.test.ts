// Workflow definitions through the API: JSON and YAML, validation, immutable
// versions, optimistic concurrency, release state and deletion rules.

import { describe, expect, test } from "bun:test";
import { dialects, rawQuery, type TestStore } from "../../helpers/stores.ts";
import { apiHarness, expectError, twoTaskWorkflow, type Harness } from "./harness.ts";

const WF = "/api/v1/projects/p/workflows";

async function withProject(h: Harness): Promise<void> {
  expect((await h.call("POST", "/api/v1/projects", { body: { name: "p" } })).status).toBe(201);
}

async function addRunningInstance(store: TestStore, projectId: number, workflowId: number): Promise<void> {
  const values = store.dialect === "sqlite" ? "?, ?, 1, 'RUNNING_EXECUTION', 'START_PROCESS', 0" : "$1, $2, 1, 'RUNNING_EXECUTION', 'START_PROCESS', 0";
  await rawQuery(store.url, `INSERT INTO workflow_instances (project_id, workflow_id, workflow_version, state, run_type, slot) VALUES (${values})`, [
    projectId,
    workflowId,
  ]);
}

const yamlDefinition = `
name: etl-daily
description: nightly load
params: { region: eu }
timeout: 2h
executionType: PARALLEL
tasks:
  - name: extract
    type: shell
    script: echo "extract \${region}"
    retries: 2
    retryInterval: 10s
    timeout: 10m
  - name: load
    type: http
    deps: [extract]
    url: http://127.0.0.1:8080/load
    method: POST
`;

describe.each(dialects)("API workflows on %s", (dialect) => {
  test("create from JSON: version 1, ONLINE, normalised definition; get, list and filter", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    const created = await h.call("POST", WF, { body: { ...twoTaskWorkflow("etl"), timeout: "1h30m" } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "etl", currentVersion: 1, latestVersion: 1, releaseState: "ONLINE" });
    expect(created.json.definition).toMatchObject({ name: "etl", timeout: 5400, tasks: [{ name: "extract" }, { name: "load", deps: ["extract"] }] });

    const got = await h.call("GET", `${WF}/etl`);
    // A save also answers `warnings` (none here: this harness has no engine to know the worker groups).
    const { warnings, unchanged, ...saved } = created.json;
    expect(warnings).toEqual([]);
    expect(unchanged).toBe(false);
    expect(got.json).toEqual(saved);
    expect(got.headers.get("etag")).toBe('"1"');

    for (const name of ["etl-hourly", "report", "etl-weekly"]) await h.call("POST", WF, { body: twoTaskWorkflow(name) });
    const page = await h.call("GET", `${WF}?limit=2&offset=0`);
    expect(page.json).toMatchObject({ total: 4, limit: 2, offset: 0 });
    expect(page.json.items).toHaveLength(2);
    expect(page.json.items[0]).not.toHaveProperty("definition");
    const filtered = await h.call("GET", `${WF}?name=etl`);
    expect(filtered.json.total).toBe(3);
    expect(filtered.json.items.map((w: { name: string }) => w.name).sort()).toEqual(["etl", "etl-hourly", "etl-weekly"]);
    expectError(await h.call("GET", `${WF}?limit=0`), 400, "VALIDATION_FAILED", /limit/);
    expectError(await h.call("GET", `${WF}?limit=501`), 400, "VALIDATION_FAILED", /limit/);
    expectError(await h.call("GET", `${WF}?offset=-1`), 400, "VALIDATION_FAILED", /offset/);
    expectError(await h.call("GET", `${WF}?sort=name`), 400, "VALIDATION_FAILED", /sort/);
    expectError(await h.call("GET", `${WF}/missing`), 404, "NOT_FOUND", /workflow "missing" not found in project "p"/);
  });

  test("create from YAML (application/yaml and text/yaml); YAML syntax errors name the line", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    const created = await h.call("POST", WF, { body: yamlDefinition, headers: { "content-type": "application/yaml" } });
    expect(created.status).toBe(201);
    expect(created.json.definition).toMatchObject({ name: "etl-daily", timeout: 7200, params: { region: "eu" } });
    expect(created.json.definition.tasks[0]).toMatchObject({ retries: 2, retryInterval: 10, timeout: 600 });
    const other = yamlDefinition.replace("etl-daily", "etl-text");
    expect((await h.call("POST", WF, { body: other, headers: { "content-type": "text/yaml; charset=utf-8" } })).status).toBe(201);

    const broken = "name: x\ntasks:\n  - name: a\n    type: shell\n    script: [unclosed\n";
    const err = expectError(await h.call("POST", WF, { body: broken, headers: { "content-type": "application/yaml" } }), 400, "VALIDATION_FAILED");
    expect(err.message).toMatch(/YAML.*line \d/);
    // Aliases that expand to a huge tree are refused, not walked.
    const levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i <= 8; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]`);
    const bomb = `name: bomb\n${levels.join("\n")}\ntasks:\n  - name: a\n    type: noop\n`;
    expectError(await h.call("POST", WF, { body: bomb, headers: { "content-type": "application/yaml" } }), 400, "VALIDATION_FAILED", /alias|more than/);
    // YAML is only for workflow bodies.
    expectError(await h.call("POST", "/api/v1/projects", { body: "name: q", headers: { "content-type": "application/yaml" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
    expectError(await h.call("POST", WF, { body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }), 415, "UNSUPPORTED_MEDIA_TYPE", /application\/yaml/);
  });

  test("invalid definitions are 400 with details: cycle, self-loop, duplicate names, unknown type and field, bad duration", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    const task = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "shell", script: "echo", ...extra });
    const cycle = await h.call("POST", WF, { body: { name: "c", tasks: [task("a", { deps: ["b"] }), task("b", { deps: ["a"] })] } });
    const cycleErr = expectError(cycle, 400, "VALIDATION_FAILED");
    expect(cycleErr.message).toMatch(/a → b → a|b → a → b/);
    expect(cycleErr.details.some((d) => d.path.startsWith("tasks."))).toBe(true);

    const cases: [unknown, RegExp][] = [
      [{ name: "s", tasks: [task("a", { deps: ["a"] })] }, /itself|self/],
      [{ name: "d", tasks: [task("a"), task("a")] }, /duplicate|twice|already/i],
      [{ name: "u", tasks: [{ name: "a", type: "teleport" }] }, /teleport/],
      [{ name: "f", tasks: [task("a", { scirpt: "x" })] }, /scirpt/],
      [{ name: "t", timeout: "2 fortnights", tasks: [task("a")] }, /timeout|duration/],
      [{ name: "m", tasks: [task("a", { deps: ["ghost"] })] }, /ghost/],
      [{ name: "x".repeat(201), tasks: [task("a")] }, /name/],
      [{ name: "e", tasks: [] }, /task/],
    ];
    for (const [body, pattern] of cases) {
      const err = expectError(await h.call("POST", WF, { body }), 400, "VALIDATION_FAILED");
      expect(err.message + JSON.stringify(err.details)).toMatch(pattern);
      expect(err.details.length).toBeGreaterThan(0);
    }
    expect((await h.call("GET", WF)).json.total).toBe(0);
  });

  test("a taken workflow name is 409; the first one is untouched", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    await h.call("POST", WF, { body: twoTaskWorkflow("etl", "echo first") });
    expectError(await h.call("POST", WF, { body: twoTaskWorkflow("etl", "echo second") }), 409, "CONFLICT", /etl/);
    const got = await h.call("GET", `${WF}/etl`);
    expect(got.json).toMatchObject({ latestVersion: 1 });
    expect(got.json.definition.tasks[0].script).toBe("echo first");
  });

  test("PUT stores new versions; old versions never change; switching the current version", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    await h.call("POST", WF, { body: twoTaskWorkflow("etl", "echo v1") });
    const v1 = (await h.call("GET", `${WF}/etl/versions/1`)).json;

    const { name: _, ...withoutName } = twoTaskWorkflow("etl", "echo v2");
    const v2 = await h.call("PUT", `${WF}/etl`, { body: withoutName });
    expect(v2.status).toBe(200);
    expect(v2.json).toMatchObject({ currentVersion: 2, latestVersion: 2 });
    expect(v2.json.definition).toMatchObject({ name: "etl", tasks: [{ script: "echo v2" }, {}] });
    const yamlV3 = "tasks:\n  - name: only\n    type: noop\n";
    const v3 = await h.call("PUT", `${WF}/etl`, { body: yamlV3, headers: { "content-type": "application/yaml" } });
    expect(v3.status).toBe(200);
    expect(v3.json.definition).toMatchObject({ name: "etl", tasks: [{ name: "only", type: "noop" }] });

    const mismatch = expectError(await h.call("PUT", `${WF}/etl`, { body: twoTaskWorkflow("other") }), 400, "VALIDATION_FAILED", /"other".*"etl"/);
    expect(mismatch.details[0]!.path).toBe("name");
    expectError(await h.call("PUT", `${WF}/nope`, { body: twoTaskWorkflow("nope") }), 404, "NOT_FOUND");

    const versions = await h.call("GET", `${WF}/etl/versions`);
    expect(versions.json).toMatchObject({ total: 3 });
    expect(versions.json.items.map((v: { version: number }) => v.version).sort()).toEqual([1, 2, 3]);
    expect((await h.call("GET", `${WF}/etl/versions?limit=1`)).json.items).toHaveLength(1);
    expect((await h.call("GET", `${WF}/etl/versions/1`)).json).toEqual(v1);
    expect(v1.definition.tasks[0].script).toBe("echo v1");
    expectError(await h.call("GET", `${WF}/etl/versions/4`), 404, "NOT_FOUND", /no version 4/);
    expectError(await h.call("GET", `${WF}/etl/versions/zero`), 400, "VALIDATION_FAILED", /v/);

    const switched = await h.call("POST", `${WF}/etl/current-version`, { body: { version: 1 } });
    expect(switched.status).toBe(200);
    expect(switched.json).toMatchObject({ currentVersion: 1, latestVersion: 3 });
    expect((await h.call("GET", `${WF}/etl`)).json.definition.tasks[0].script).toBe("echo v1");
    expectError(await h.call("POST", `${WF}/etl/current-version`, { body: { version: 9 } }), 404, "NOT_FOUND");
    expectError(await h.call("POST", `${WF}/etl/current-version`, { body: { version: "2" } }), 400, "VALIDATION_FAILED", /version/);
    // A new version after a rollback is latest+1, and the history is intact.
    expect((await h.call("PUT", `${WF}/etl`, { body: withoutName })).json).toMatchObject({ currentVersion: 4, latestVersion: 4 });
    expect((await h.call("GET", `${WF}/etl/versions/1`)).json).toEqual(v1);
  });

  test("If-Match and expectedVersion: a stale version is 409 and stores nothing", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    await h.call("POST", WF, { body: twoTaskWorkflow("etl") });
    const etag = (await h.call("GET", `${WF}/etl`)).headers.get("etag")!;
    expect((await h.call("PUT", `${WF}/etl`, { body: twoTaskWorkflow("etl", "a"), headers: { "if-match": etag } })).status).toBe(200);
    // Someone edits from the old ETag: refused.
    expectError(await h.call("PUT", `${WF}/etl`, { body: twoTaskWorkflow("etl", "b"), headers: { "if-match": etag } }), 409, "CONFLICT");
    expectError(await h.call("PUT", `${WF}/etl?expectedVersion=1`, { body: twoTaskWorkflow("etl", "b") }), 409, "CONFLICT");
    expect((await h.call("PUT", `${WF}/etl?expectedVersion=2`, { body: twoTaskWorkflow("etl", "c") })).json.currentVersion).toBe(3);
    expectError(await h.call("PUT", `${WF}/etl`, { body: twoTaskWorkflow("etl"), headers: { "if-match": "banana" } }), 400, "VALIDATION_FAILED", /If-Match/);
    expectError(await h.call("PUT", `${WF}/etl?expectedVersion=2`, { body: twoTaskWorkflow("etl"), headers: { "if-match": '"3"' } }), 400, "VALIDATION_FAILED", /disagree/);
    expect((await h.call("GET", `${WF}/etl`)).json).toMatchObject({ latestVersion: 3 });
    expect((await h.call("GET", `${WF}/etl`)).json.definition.tasks[0].script).toBe("c");
  });

  test("release ONLINE/OFFLINE; delete only when OFFLINE with nothing running", async () => {
    await using h = await apiHarness(dialect);
    await withProject(h);
    const created = await h.call("POST", WF, { body: twoTaskWorkflow("etl") });
    const online = expectError(await h.call("DELETE", `${WF}/etl`), 409, "CONFLICT");
    expect(online.message).toMatch(/ONLINE/);
    expectError(await h.call("POST", `${WF}/etl/release`, { body: { state: "offline" } }), 400, "VALIDATION_FAILED", /OFFLINE/);
    expect((await h.call("POST", `${WF}/etl/release`, { body: { state: "OFFLINE" } })).json.releaseState).toBe("OFFLINE");

    const project = (await h.call("GET", "/api/v1/projects/p")).json;
    await addRunningInstance(h.store, project.id, created.json.id);
    expectError(await h.call("DELETE", `${WF}/etl`), 409, "CONFLICT", /active instance/);
    await rawQuery(h.store.url, "UPDATE workflow_instances SET state = 'SUCCESS'");

    expect((await h.call("DELETE", `${WF}/etl`)).status).toBe(204);
    expectError(await h.call("GET", `${WF}/etl`), 404, "NOT_FOUND");
    expectError(await h.call("GET", `${WF}/etl/versions/1`), 404, "NOT_FOUND");
    // The name is free again, and the project can now be deleted.
    expect((await h.call("POST", WF, { body: twoTaskWorkflow("etl") })).json.currentVersion).toBe(1);
    expect((await h.call("POST", `${WF}/etl/release`, { body: { state: "OFFLINE" } })).status).toBe(200);
    expect((await h.call("POST", `${WF}/etl/release`, { body: { state: "ONLINE" } })).json.releaseState).toBe("ONLINE");
  });
});
