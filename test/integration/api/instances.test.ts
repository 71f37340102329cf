// Instance routes without a running engine: run input validation, what is checked against
// the stored workflow (version, OFFLINE, start tasks), 503 where the engine is needed,
// reads of instances written through the store, and who may call what.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, seedInstance, twoTaskWorkflow, type Harness } from "./harness.ts";

const P = "/api/v1/projects/analytics";

async function setup(h: Harness) {
  expect((await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).status).toBe(201);
  expect((await h.call("POST", `${P}/workflows`, { body: twoTaskWorkflow("etl") })).status).toBe(201);
  return (await h.call("GET", P)).json.id as number;
}

describe.each(dialects)("API instances without an engine on %s", (dialect) => {
  test("run: bad bodies are 400 naming the field; stored-workflow problems are 404/409/400; a valid run is 503", async () => {
    await using h = await apiHarness(dialect);
    await setup(h);
    const run = (body: unknown, name = "etl") => h.call("POST", `${P}/workflows/${name}/run`, { body });
    const cases: [unknown, string][] = [
      [{ parms: {} }, "parms"],
      [{ params: { "bad name": "x" } }, "params.bad name"],
      [{ params: { a: { nested: true } } }, "params.a"],
      [{ params: { a: null } }, "params.a"],
      [{ startTasks: [] }, "startTasks"],
      [{ startTasks: "extract" }, "startTasks"],
      [{ dependType: "TASK_ALL" }, "dependType"],
      [{ failureStrategy: "IGNORE" }, "failureStrategy"],
      [{ priority: "URGENT" }, "priority"],
      [{ dryRun: "yes" }, "dryRun"],
      [{ version: 0 }, "version"],
      [{ version: "1" }, "version"],
      [{ workerGroup: "" }, "workerGroup"],
      [{ projectId: 1 }, "projectId"],
    ];
    for (const [body, field] of cases) {
      const err = expectError(await run(body), 400, "VALIDATION_FAILED");
      expect({ field, paths: err.details.map((d) => d.path) }).toEqual({ field, paths: expect.arrayContaining([field]) });
    }
    expectError(await run({}, "nope"), 404, "NOT_FOUND", /workflow "nope"/);
    expectError(await run({ version: 7 }), 404, "NOT_FOUND", /no version 7/);

    const unknown = expectError(await run({ startTasks: ["extract", "lod", "zzz"] }), 400, "VALIDATION_FAILED", /"lod", "zzz"/);
    expect(unknown.details).toEqual([
      { path: "startTasks.1", message: expect.stringMatching(/"lod".*did you mean "load"/) },
      { path: "startTasks.2", message: expect.stringContaining('"zzz"') },
    ]);

    await h.call("POST", `${P}/workflows/etl/release`, { body: { state: "OFFLINE" } });
    expectError(await run({}), 409, "CONFLICT", /OFFLINE.*ONLINE/);
    await h.call("POST", `${P}/workflows/etl/release`, { body: { state: "ONLINE" } });

    // Valid, but this process runs no engine; numbers and booleans in params are fine.
    expectError(await run({ params: { n: 3, on: true }, startTasks: ["load"], priority: "HIGH" }), 503, "ENGINE_UNAVAILABLE", /engine not available/);
    expect((await h.call("GET", `${P}/workflow-instances`)).json.total).toBe(0);
  });

  test("controls need the engine (503) once the caller may use them, logs do not; outsiders 404, viewers 403", async () => {
    await using h = await apiHarness(dialect);
    const projectId = await setup(h);
    const { instance, taskInstanceId } = await seedInstance(h.store, projectId, "etl", { task: "extract" });
    const viewer = await h.user("vic");
    const outsider = await h.user("otto");
    await h.call("POST", `${P}/members`, { body: { user: "vic", role: "viewer" } });

    const controls = [
      ...["stop", "pause", "resume", "rerun", "recover-failed"].map((c) => `/api/v1/workflow-instances/${instance.id}/${c}`),
      ...["force-success", "kill"].map((c) => `/api/v1/task-instances/${taskInstanceId}/${c}`),
    ];
    for (const path of controls) {
      expectError(await h.call("POST", path), 503, "ENGINE_UNAVAILABLE");
      expectError(await h.call("POST", path, { token: viewer.token }), 403, "FORBIDDEN", /developer.*"analytics".*viewer/);
      expectError(await h.call("POST", path, { token: outsider.token }), 404, "NOT_FOUND");
    }
    const log = `/api/v1/task-instances/${taskInstanceId}/log`;
    // Logs come from the Store's chunks or the local file (src/logs/): any api node serves them.
    const page = await h.call("GET", log, { token: viewer.token });
    expect(page.json).toEqual({ text: "", offset: 0, nextOffset: 0, size: 0, ended: false });
    expectError(await h.call("GET", log, { token: outsider.token }), 404, "NOT_FOUND");
    expectError(await h.call("GET", `${log}?follow=maybe`), 400, "VALIDATION_FAILED", /follow/);
    expectError(await h.call("GET", `${log}?limit=0`), 400, "VALIDATION_FAILED", /limit/);
    expectError(await h.call("GET", `${log}?offset=-1`), 400, "VALIDATION_FAILED", /offset/);

    for (const path of ["/api/v1/workflow-instances/999999", "/api/v1/task-instances/999999", "/api/v1/task-instances/999999/kill"]) {
      expectError(await h.call(path.endsWith("kill") ? "POST" : "GET", path), 404, "NOT_FOUND", /999999 not found/);
    }
    expectError(await h.call("GET", "/api/v1/workflow-instances/abc"), 400, "VALIDATION_FAILED", /id/);
    expectError(await h.call("GET", "/api/v1/task-instances/0"), 400, "VALIDATION_FAILED", /id/);
    // Nothing changed.
    expect((await h.store.instances.get(instance.id))!.state).toBe("SUBMITTED_SUCCESS");
  });

  test("reads: one instance with every attempt, a task attempt with params and OUT params; no fencing fields", async () => {
    await using h = await apiHarness(dialect);
    const projectId = await setup(h);
    const { instance, taskInstanceId } = await seedInstance(h.store, projectId, "etl", {
      params: { day: "2025-05-01" },
      task: "extract",
      taskParams: { day: "2025-05-01" },
      output: { rows: "42" },
    });
    const viewer = await h.user("vic");
    const outsider = await h.user("otto");
    await h.call("POST", `${P}/members`, { body: { user: "vic", role: "viewer" } });

    const got = await h.call("GET", `/api/v1/workflow-instances/${instance.id}`, { token: viewer.token });
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({
      id: instance.id,
      project: "analytics",
      workflowName: "etl",
      workflowVersion: 1,
      taskCount: 2,
      state: "SUBMITTED_SUCCESS",
      params: { day: "2025-05-01" },
      failureStrategy: "END",
      runTimes: expect.any(Number),
      startTime: null,
      createdAt: expect.stringMatching(/Z$/),
      tasks: [{ id: taskInstanceId, taskName: "extract", attempt: 1, state: "SUCCESS", outParams: { rows: "42" } }],
    });
    const attempt = await h.call("GET", `/api/v1/task-instances/${taskInstanceId}`, { token: viewer.token });
    expect(attempt.json).toMatchObject({ id: taskInstanceId, workflowInstanceId: instance.id, params: { day: "2025-05-01" }, outParams: { rows: "42" } });
    for (const reply of [got, attempt]) {
      for (const field of ["epoch", "slot", "dispatchToken", "logPath", "seed-token"]) expect(reply.text).not.toContain(field);
    }
    expectError(await h.call("GET", `/api/v1/workflow-instances/${instance.id}`, { token: outsider.token }), 404, "NOT_FOUND");
    expectError(await h.call("GET", `/api/v1/task-instances/${taskInstanceId}`, { token: outsider.token }), 404, "NOT_FOUND");
  });

  test("list: filters by workflow, state and time, pages, and refuses bad filters naming them", async () => {
    await using h = await apiHarness(dialect);
    const projectId = await setup(h);
    await h.call("POST", `${P}/workflows`, { body: twoTaskWorkflow("other") });
    const a = await seedInstance(h.store, projectId, "etl");
    const b = await seedInstance(h.store, projectId, "other");
    const c = await seedInstance(h.store, projectId, "etl");
    await h.store.instances.transition(c.instance.id, { from: ["SUBMITTED_SUCCESS"], to: "RUNNING_EXECUTION", epoch: 0 });
    const ids = (reply: { json: { items: { id: number }[] } }) => reply.json.items.map((i) => i.id);

    const all = await h.call("GET", `${P}/workflow-instances`);
    expect(all.json).toMatchObject({ total: 3, limit: 50, offset: 0 });
    expect(ids(all)).toEqual([c.instance.id, b.instance.id, a.instance.id]);
    expect(all.json.items.map((i: { workflowName: string }) => i.workflowName)).toEqual(["etl", "other", "etl"]);
    expect(ids(await h.call("GET", `${P}/workflow-instances?workflow=etl`))).toEqual([c.instance.id, a.instance.id]);
    expect(ids(await h.call("GET", `${P}/workflow-instances?state=RUNNING_EXECUTION`))).toEqual([c.instance.id]);
    expect(ids(await h.call("GET", `${P}/workflow-instances?state=RUNNING_EXECUTION,SUBMITTED_SUCCESS&workflow=other`))).toEqual([b.instance.id]);
    expect(ids(await h.call("GET", `${P}/workflow-instances?state=SUCCESS&state=RUNNING_EXECUTION`))).toEqual([c.instance.id]);
    const paged = await h.call("GET", `${P}/workflow-instances?limit=1&offset=1`);
    expect({ ids: ids(paged), total: paged.json.total }).toEqual({ ids: [b.instance.id], total: 3 });
    const future = new Date(Date.now() + 86_400_000).toISOString();
    expect((await h.call("GET", `${P}/workflow-instances?from=${future}`)).json.total).toBe(0);
    expect((await h.call("GET", `${P}/workflow-instances?to=${future}&from=2000-01-01`)).json.total).toBe(3);

    for (const [query, field] of [
      ["state=DONE", "state"],
      ["from=yesterday", "from"],
      ["from=2025-13-45T00:00:00Z", "from"],
      [`from=${future}&to=2000-01-01`, "from"],
      ["limit=0", "limit"],
      ["limit=501", "limit"],
      ["workflw=etl", "workflw"],
    ] as const) {
      const err = expectError(await h.call("GET", `${P}/workflow-instances?${query}`), 400, "VALIDATION_FAILED");
      expect({ query, paths: err.details.map((d) => d.path).join(" ") }).toEqual({ query, paths: expect.stringContaining(field) });
    }
    expectError(await h.call("GET", `${P}/workflow-instances?workflow=nope`), 404, "NOT_FOUND", /nope/);
    const outsider = await h.user("otto");
    expectError(await h.call("GET", `${P}/workflow-instances`, { token: outsider.token }), 404, "NOT_FOUND");
  });
});
