// Issue 9 item 17, through the API on both dialects: a rollback brings the old version's
// description back; a plain manual run writes an audit row (who ran what; param names only); an
// attempt's params view carries system.task.instance.id and system.task.execute.path as the task
// saw them. Each seen failing before the fix (newest description kept; no instance.run row; the two
// built-ins absent).

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness } from "./harness.ts";

const BASE = "/api/v1/projects/etl";

describe.each(dialects)("item 17 on %s", (dialect) => {
  test("rollback restores the description; a manual run is audited; params show the worker's built-ins", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "etl" } })).status).toBe(201);
    const tasks = [
      { name: "sh", type: "shell", script: 'echo "id=${system.task.instance.id} dir=${system.task.execute.path}"; echo \'${setValue(dir=\'"$PWD"\')}\'' },
      { name: "n", type: "noop", deps: ["sh"] },
    ];
    expect((await h.call("POST", `${BASE}/workflows`, { body: { name: "daily", description: "first", tasks } })).status).toBe(201);
    expect((await h.call("PUT", `${BASE}/workflows/daily`, { body: { description: "second", tasks } })).json.description).toBe("second");
    const back = await h.call("POST", `${BASE}/workflows/daily/current-version`, { body: { version: 1 } });
    expect(back.json).toMatchObject({ currentVersion: 1, description: "first" });
    expect((await h.call("GET", `${BASE}/workflows/daily`)).json.description).toBe("first");

    const run = await h.call("POST", `${BASE}/workflows/daily/run`, { body: { params: { secret: "s3cr3t", region: "eu" } } });
    expect(run.status).toBe(201);
    const id = run.json.id as number;
    const done = await h.waitFor("the run to end", async () => {
      const r = await h.call("GET", `/api/v1/workflow-instances/${id}`);
      return ["SUCCESS", "FAILURE"].includes(r.json.state) ? r.json : null;
    });
    expect(done.state).toBe("SUCCESS");

    const audit = (await h.call("GET", `${BASE}/audit`)).json.items as { action: string; actorName: string; objectId: string; details: Record<string, unknown> }[];
    const ran = audit.filter((a) => a.action === "instance.run");
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatchObject({ actorName: "admin", objectId: String(id), details: { workflow: "daily", params: "region,secret", dryRun: false } });
    expect(JSON.stringify(ran[0])).not.toContain("s3cr3t");

    const sh = done.tasks.find((t: { taskName: string }) => t.taskName === "sh");
    expect(sh.params["system.task.instance.id"]).toBe(String(sh.id));
    expect(sh.params["system.task.execute.path"]).toBe(sh.outParams.dir);
    expect(existsSync(sh.params["system.task.execute.path"])).toBe(true);
    const n = done.tasks.find((t: { taskName: string }) => t.taskName === "n");
    expect(n.params["system.task.instance.id"]).toBe(String(n.id));
    expect(n.params["system.task.execute.path"]).toBeUndefined(); // a noop runs in no directory
  });
});

describe.each(dialects)("save-time worker group warnings on %s", (dialect) => {
  test("a task for a worker group no worker serves is saved, with a warning naming group and tasks", async () => {
    // Issue 9 item 15; seen failing before: no warnings field.
    await using h = await apiHarness(dialect, { engine: "full" });
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "etl" } })).status).toBe(201);
    const tasks = [
      { name: "a", type: "noop", workerGroup: "gpu" },
      { name: "b", type: "noop", workerGroup: "gpu" },
      { name: "c", type: "noop" },
    ];
    const created = await h.call("POST", `${BASE}/workflows`, { body: { name: "g", tasks } });
    expect(created.status).toBe(201);
    expect(created.json.warnings).toEqual(['no worker serves worker group "gpu" (served: "default"); tasks "a", "b" will wait in DISPATCH until a worker of that group is up']);
    const fixed = await h.call("PUT", `${BASE}/workflows/g`, { body: { tasks: [{ name: "c", type: "noop" }] } });
    expect(fixed.json.warnings).toEqual([]);
  });
});
