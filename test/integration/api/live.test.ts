// What the web UI reads beyond the plain resources (src/api/routes/live.ts): the live state
// streams of one instance and of a project, the runs × tasks grid, and the workflow check the
// editor calls as you type. Real engine, real store, both dialects.

import { describe, expect, test } from "bun:test";
import { readSse, type SseEvent } from "../../../src/cli/client-sse.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, seedInstance, twoTaskWorkflow, type Harness } from "./harness.ts";

async function openEvents(h: Harness, path: string, token = h.adminToken) {
  const ctl = new AbortController();
  const res = await h.app.request(path, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  return { events: readSse(res.body!, ctl.signal)[Symbol.asyncIterator](), close: () => ctl.abort() };
}

async function readUntil(events: AsyncIterator<SseEvent>, until: (seen: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  for (;;) {
    const next = await events.next();
    if (next.done) throw new Error(`stream ended early; got ${JSON.stringify(seen)}`);
    seen.push(next.value);
    if (until(seen)) return seen;
  }
}

const finalStates = (seen: SseEvent[]) => {
  const tasks = new Map<string, string>();
  let instance = "";
  for (const e of seen) {
    const d = e.data ? JSON.parse(e.data) : null;
    if (e.event === "task") tasks.set(d.taskName, d.state);
    if (e.event === "instance") instance = d.state;
  }
  return { instance, tasks: Object.fromEntries(tasks) };
};

describe.each(dialects)("UI support routes on %s", (dialect) => {
  test("instance and project event streams: full state, then changes until SUCCESS; strangers get 404", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await h.call("POST", "/api/v1/projects", { body: { name: "alpha" } });
    await h.call("POST", "/api/v1/projects", { body: { name: "beta" } });
    expect((await h.call("POST", "/api/v1/projects/alpha/workflows", { body: twoTaskWorkflow("etl", "sleep 0.3; echo hi") })).status).toBe(201);
    const project = await openEvents(h, "/api/v1/projects/alpha/events?workflow=etl");
    const first = await readUntil(project.events, (s) => s.at(-1)!.event === "ready");
    expect(first.map((e) => e.event)).toEqual(["ready"]);

    const run = await h.call("POST", "/api/v1/projects/alpha/workflows/etl/run", { body: {} });
    expect(run.status).toBe(201);
    const id = run.json.id as number;
    const one = await openEvents(h, `/api/v1/workflow-instances/${id}/events`);
    const seen = await readUntil(one.events, (s) => {
      const f = finalStates(s);
      return f.instance === "SUCCESS" && f.tasks.extract === "SUCCESS" && f.tasks.load === "SUCCESS";
    });
    expect(seen.some((e) => e.event === "ready")).toBe(true);
    // Each event carries the REST view: the instance's project by name, the attempt's fields.
    const task = JSON.parse(seen.find((e) => e.event === "task")!.data);
    expect(task).toMatchObject({ workflowInstanceId: id, attempt: 1, taskType: "shell" });
    expect(task.token).toBeUndefined();
    one.close();

    const projectSeen = await readUntil(project.events, (s) => s.some((e) => e.event === "instance" && JSON.parse(e.data).state === "SUCCESS"));
    const inst = JSON.parse(projectSeen.find((e) => e.event === "instance")!.data);
    expect(inst).toMatchObject({ id, project: "alpha", workflowName: "etl" });
    project.close();

    // Someone who is not a member of alpha: 404 for both streams, as for every other read.
    const stranger = await h.user("stranger");
    await h.call("POST", "/api/v1/projects/beta/members", { body: { user: "stranger", role: "owner" } });
    for (const path of [`/api/v1/workflow-instances/${id}/events`, "/api/v1/projects/alpha/events"]) {
      expectError(await h.call("GET", path, { token: stranger.token }), 404, "NOT_FOUND");
    }
    // Their own project's stream shows nothing of alpha.
    const own = await openEvents(h, "/api/v1/projects/beta/events", stranger.token);
    expect((await readUntil(own.events, (s) => s.at(-1)!.event === "ready")).map((e) => e.event)).toEqual(["ready"]);
    own.close();
    expectError(await h.call("GET", "/api/v1/projects/alpha/events?workflow=nope"), 404, "NOT_FOUND", /workflow "nope"/);
  });

  test("an open stream ends with an error event once its caller may no longer see it: member removed, token revoked", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    await h.call("POST", "/api/v1/projects", { body: { name: "alpha" } });
    await h.call("POST", "/api/v1/projects/alpha/workflows", { body: twoTaskWorkflow("etl") });
    const projectId = (await h.call("GET", "/api/v1/projects/alpha")).json.id as number;
    const { instance } = await seedInstance(h.store, projectId, "etl", { task: "extract", state: "RUNNING_EXECUTION" });
    const vera = await h.user("vera");
    const tom = await h.user("tom");
    for (const user of ["vera", "tom"]) await h.call("POST", "/api/v1/projects/alpha/members", { body: { user, role: "viewer" } });
    const streams = {
      veraProject: await openEvents(h, "/api/v1/projects/alpha/events", vera.token),
      veraInstance: await openEvents(h, `/api/v1/workflow-instances/${instance.id}/events`, vera.token),
      tomProject: await openEvents(h, "/api/v1/projects/alpha/events", tom.token),
    };
    for (const s of Object.values(streams)) await readUntil(s.events, (seen) => seen.at(-1)!.event === "ready");

    expect((await h.call("DELETE", "/api/v1/projects/alpha/members/vera")).status).toBe(204);
    const tokenId = (await h.call("GET", "/api/v1/tokens", { token: tom.token })).json.items[0].id as number;
    expect((await h.call("DELETE", `/api/v1/tokens/${tokenId}`, { token: tom.token })).status).toBe(204);

    const ending = async (s: { events: AsyncIterator<SseEvent> }) => {
      const seen = await readUntil(s.events, (all) => all.at(-1)!.event === "error");
      expect((await s.events.next()).done).toBe(true);
      return JSON.parse(seen.at(-1)!.data).code as string;
    };
    expect(await ending(streams.veraProject)).toBe("NOT_FOUND");
    expect(await ending(streams.veraInstance)).toBe("NOT_FOUND");
    expect(await ending(streams.tomProject)).toBe("UNAUTHORIZED");
  });

  test("grid: runs newest first with each task's latest attempt; bad paging names the field", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await h.call("POST", "/api/v1/projects", { body: { name: "alpha" } });
    await h.call("POST", "/api/v1/projects/alpha/workflows", { body: twoTaskWorkflow("etl") });
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await h.call("POST", "/api/v1/projects/alpha/workflows/etl/run", { body: {} })).json.id);
    await h.waitFor("three runs to succeed", async () => {
      const page = await h.call("GET", "/api/v1/projects/alpha/workflow-instances?state=SUCCESS");
      return page.json.total === 3;
    });
    const grid = await h.call("GET", "/api/v1/projects/alpha/workflows/etl/grid?limit=2");
    expect(grid.status).toBe(200);
    expect(grid.json).toMatchObject({ tasks: ["extract", "load"], total: 3, limit: 2, offset: 0 });
    expect(grid.json.runs.map((r: { id: number }) => r.id)).toEqual([ids[2], ids[1]]);
    const cells = grid.json.runs[0].cells;
    expect(cells.extract).toMatchObject({ state: "SUCCESS", attempt: 1 });
    expect(cells.load).toMatchObject({ state: "SUCCESS", attempt: 1 });
    const next = await h.call("GET", "/api/v1/projects/alpha/workflows/etl/grid?limit=2&offset=2");
    expect(next.json.runs.map((r: { id: number }) => r.id)).toEqual([ids[0]]);

    const bad = expectError(await h.call("GET", "/api/v1/projects/alpha/workflows/etl/grid?limit=101"), 400, "VALIDATION_FAILED");
    expect(bad.details[0]!.path).toBe("limit");
    expectError(await h.call("GET", "/api/v1/projects/alpha/workflows/nope/grid"), 404, "NOT_FOUND");
  });

  test("workflow check: 200 for what a save accepts, the save's 400 naming the field otherwise; nothing is stored", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    await h.call("POST", "/api/v1/projects", { body: { name: "alpha" } });
    const yaml = "name: etl\ntasks:\n  - name: a\n    type: shell\n    script: echo a\n  - name: b\n    type: shell\n    script: echo b\n    deps: [a]\n";
    const ok = await h.call("POST", "/api/v1/projects/alpha/workflow-checks", { body: yaml, headers: { "content-type": "application/yaml" } });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ valid: true, tasks: 2, warnings: [] });

    const wrongDep = yaml.replace("deps: [a]", "deps: [x]");
    const err = expectError(await h.call("POST", "/api/v1/projects/alpha/workflow-checks", { body: wrongDep, headers: { "content-type": "application/yaml" } }), 400, "VALIDATION_FAILED");
    expect(err.details.some((d) => d.path.startsWith("tasks.1.deps"))).toBe(true);
    const badType = yaml.replace("type: shell\n    script: echo b", "type: shel\n    script: echo b");
    const err2 = expectError(await h.call("POST", "/api/v1/projects/alpha/workflow-checks", { body: badType, headers: { "content-type": "application/yaml" } }), 400, "VALIDATION_FAILED");
    expect(err2.details.some((d) => d.path.startsWith("tasks.1"))).toBe(true);
    expect((await h.call("GET", "/api/v1/projects/alpha/workflows")).json.total).toBe(0);

    const viewer = await h.user("viewer");
    await h.call("POST", "/api/v1/projects/alpha/members", { body: { user: "viewer", role: "viewer" } });
    expectError(await h.call("POST", "/api/v1/projects/alpha/workflow-checks", { token: viewer.token, body: yaml, headers: { "content-type": "application/yaml" } }), 403, "FORBIDDEN");
  });
});
