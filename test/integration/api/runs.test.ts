// Workflows run through the API on a real engine (master + worker, shell tasks as real
// processes): run, read progress, follow a log, and the controls with their 409s.

import { describe, expect, test } from "bun:test";
import { readSse } from "../../../src/cli/client-sse.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const P = "/api/v1/projects/analytics";

async function setup(h: Harness, workflow: Record<string, unknown>) {
  await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
  const saved = await h.call("POST", `${P}/workflows`, { body: workflow });
  expect(saved.status).toBe(201);
}

async function waitInstance(h: Harness, id: number, states: string[]) {
  return h.waitFor(`instance ${id} in ${states.join("/")}`, async () => {
    const reply = await h.call("GET", `/api/v1/workflow-instances/${id}`);
    return states.includes(reply.json.state) ? reply.json : null;
  });
}

async function waitTask(h: Harness, id: number, task: string, states: string[]) {
  return h.waitFor(`task ${task} of ${id} in ${states.join("/")}`, async () => {
    const reply = await h.call("GET", `/api/v1/workflow-instances/${id}`);
    return reply.json.tasks.find((t: { taskName: string; state: string }) => t.taskName === task && states.includes(t.state));
  });
}

describe.each(dialects)("API runs on a real engine (%s)", (dialect) => {
  test("run with params: 201 at once, then SUCCESS with every attempt, OUT params and logs readable", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, {
      name: "etl",
      tasks: [
        { name: "extract", type: "shell", script: 'echo "n is ${n}, flag is ${flag}"\necho \'${setValue(rows=42)}\'' },
        { name: "load", type: "shell", script: "echo loading ${rows} rows", deps: ["extract"] },
      ],
    });
    const started = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { n: 3, flag: true } } });
    expect(started.status).toBe(201);
    expect(started.json).toEqual({ id: expect.any(Number), state: "SUBMITTED_SUCCESS" });
    const id = started.json.id as number;

    const done = await waitInstance(h, id, ["SUCCESS", "FAILURE"]);
    expect(done).toMatchObject({ state: "SUCCESS", params: { n: "3", flag: "true" }, project: "analytics", endTime: expect.any(String) });
    expect(done.tasks.map((t: { taskName: string; state: string; attempt: number }) => [t.taskName, t.state, t.attempt])).toEqual([
      ["extract", "SUCCESS", 1],
      ["load", "SUCCESS", 1],
    ]);
    const extract = done.tasks[0];
    const attempt = (await h.call("GET", `/api/v1/task-instances/${extract.id}`)).json;
    expect(attempt).toMatchObject({ taskName: "extract", exitCode: 0, outParams: { rows: "42" } });

    const log = (await h.call("GET", `/api/v1/task-instances/${extract.id}/log`)).json;
    expect(log).toMatchObject({ ended: true, offset: 0 });
    expect(log.text).toContain("n is 3, flag is true");
    const loadLog = (await h.call("GET", `/api/v1/task-instances/${done.tasks[1].id}/log`)).json;
    expect(loadLog.text).toContain("loading 42 rows");

    const list = await h.call("GET", `${P}/workflow-instances?workflow=etl&state=SUCCESS`);
    expect(list.json.items.map((i: { id: number }) => i.id)).toEqual([id]);
  });

  test("follow a running task's log until it ends", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    // The task waits for a file the test creates, so the follow is open while it runs.
    const gate = `${h.dataDir}/gate`;
    await setup(h, {
      name: "slow",
      tasks: [{ name: "talk", type: "shell", script: `echo first\nwhile [ ! -e '${gate}' ]; do sleep 0.05; done\necho second` }],
    });
    const id = (await h.call("POST", `${P}/workflows/slow/run`, { body: {} })).json.id as number;
    const task = await waitTask(h, id, "talk", ["RUNNING_EXECUTION"]);
    const res = await h.app.request(`/api/v1/task-instances/${task.id}/log?follow=1`, { headers: { authorization: `Bearer ${h.adminToken}` } });
    const events = readSse(res.body!)[Symbol.asyncIterator]();
    const seen: string[] = [];
    for (;;) {
      const e = (await events.next()).value!;
      seen.push(e.data);
      if (e.data.includes("first")) break;
    }
    await Bun.write(gate, "");
    for (;;) {
      const next = await events.next();
      if (next.done) break;
      seen.push(`${next.value.event}:${next.value.data}`);
    }
    const text = seen.join("\n");
    expect(text).toContain("second");
    expect(seen.at(-1)).toMatch(/^end:.*"ended":true/);
    expect((await waitInstance(h, id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
  });

  test("controls: stop a running instance, 409s naming the state, viewers 403, rerun a finished one", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, { name: "long", tasks: [{ name: "nap", type: "shell", script: "sleep 60" }] });
    const viewer = await h.user("vic");
    await h.call("POST", `${P}/members`, { body: { user: "vic", role: "viewer" } });
    const id = (await h.call("POST", `${P}/workflows/long/run`, { body: {} })).json.id as number;
    const nap = await waitTask(h, id, "nap", ["RUNNING_EXECUTION"]);

    expectError(await h.call("POST", `/api/v1/workflow-instances/${id}/stop`, { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await h.call("POST", `/api/v1/task-instances/${nap.id}/kill`, { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await h.call("POST", `/api/v1/workflow-instances/${id}/resume`), 409, "CONFLICT", /RUNNING_EXECUTION/);
    expectError(await h.call("POST", `/api/v1/task-instances/${nap.id}/force-success`), 409, "CONFLICT", /RUNNING_EXECUTION/);

    const stop = await h.call("POST", `/api/v1/workflow-instances/${id}/stop`);
    expect(stop.status).toBe(200);
    expect(stop.json).toEqual({ id, state: "READY_STOP" });
    expect((await waitInstance(h, id, ["STOP"])).state).toBe("STOP");
    expectError(await h.call("POST", `/api/v1/workflow-instances/${id}/stop`), 409, "CONFLICT", /state STOP/);
    expectError(await h.call("POST", `/api/v1/workflow-instances/${id}/recover-failed`), 409, "CONFLICT", /state STOP/);

    const rerun = await h.call("POST", `/api/v1/workflow-instances/${id}/rerun`);
    expect(rerun.status).toBe(200);
    expect(rerun.json.id).toBe(id);
    // The rerun starts a new attempt; kill it.
    const again = await h.waitFor("a second run of nap", async () => {
      const tasks = (await h.call("GET", `/api/v1/workflow-instances/${id}`)).json.tasks as { id: number; state: string }[];
      return tasks.find((t) => t.id !== nap.id && t.state === "RUNNING_EXECUTION");
    });
    const kill = await h.call("POST", `/api/v1/task-instances/${again.id}/kill`);
    expect(kill.status).toBe(200);
    await h.waitFor("the killed attempt to end", async () => {
      const t = (await h.call("GET", `/api/v1/task-instances/${again.id}`)).json;
      return t.state !== "RUNNING_EXECUTION" && t.state !== "DISPATCH" ? t : null;
    });
  });

  // The run route reads each saved version once (versions are immutable): every run still takes
  // the current version, a new one, a rollback, and a workflow deleted and saved again by name.
  test("each run takes the workflow's current version, after a new version, a rollback and a re-creation", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, { name: "v", tasks: [{ name: "one", type: "noop" }] });
    const ranTasks = async (body: Record<string, unknown> = {}) => {
      const run = await h.call("POST", `${P}/workflows/v/run`, { body });
      expect(run.status).toBe(201);
      const done = await waitInstance(h, run.json.id, ["SUCCESS", "FAILURE"]);
      return done.tasks.map((t: { taskName: string }) => t.taskName).sort();
    };
    expect(await ranTasks()).toEqual(["one"]);
    expect((await h.call("PUT", `${P}/workflows/v`, { body: { name: "v", tasks: [{ name: "two", type: "noop" }] } })).status).toBe(200);
    expect(await ranTasks()).toEqual(["two"]);
    expect(await ranTasks({ version: 1 })).toEqual(["one"]);
    expect((await h.call("POST", `${P}/workflows/v/current-version`, { body: { version: 1 } })).status).toBe(200);
    expect(await ranTasks()).toEqual(["one"]);
    expectError(await h.call("POST", `${P}/workflows/v/run`, { body: { startTasks: ["two"] } }), 400, "VALIDATION_FAILED", /two/);
    expect((await h.call("POST", `${P}/workflows/v/release`, { body: { state: "OFFLINE" } })).status).toBe(200);
    expect((await h.call("DELETE", `${P}/workflows/v`)).status).toBe(204);
    expectError(await h.call("POST", `${P}/workflows/v/run`, { body: {} }), 404, "NOT_FOUND", /"v"/);
    expect((await h.call("POST", `${P}/workflows`, { body: { name: "v", tasks: [{ name: "three", type: "noop" }] } })).status).toBe(201);
    expect(await ranTasks()).toEqual(["three"]);
  });

  test("unknown start tasks and OFFLINE workflows are refused before the engine creates anything", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, { name: "etl", tasks: [{ name: "a", type: "noop" }, { name: "b", type: "noop", deps: ["a"] }] });
    expectError(await h.call("POST", `${P}/workflows/etl/run`, { body: { startTasks: ["c"] } }), 400, "VALIDATION_FAILED", /"c"/);
    await h.call("POST", `${P}/workflows/etl/release`, { body: { state: "OFFLINE" } });
    expectError(await h.call("POST", `${P}/workflows/etl/run`, { body: {} }), 409, "CONFLICT", /OFFLINE/);
    expect((await h.call("GET", `${P}/workflow-instances`)).json.total).toBe(0);
    await h.call("POST", `${P}/workflows/etl/release`, { body: { state: "ONLINE" } });
    const id = (await h.call("POST", `${P}/workflows/etl/run`, { body: { startTasks: ["b"], dependType: "TASK_ONLY" } })).json.id;
    const done = await waitInstance(h, id, ["SUCCESS", "FAILURE"]);
    expect(done).toMatchObject({ state: "SUCCESS", startTasks: ["b"], dependType: "TASK_ONLY" });
    expect(done.tasks.map((t: { taskName: string }) => t.taskName)).toEqual(["b"]);
  });
});
