// A hostile developer of one project against another project's workflows through sub_workflow
// and dependent (issue 9 items 2 and 11): refused at save time with one text whether the target
// is missing or hidden, refused again at run time when the rights are gone (the task fails, no
// child is started, nothing of the target's results is read), audited in the target project when
// allowed; and no save or rollback may close a cycle of sub_workflows.
import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const sub = (project: string | undefined, workflow: string, name = "sub") => ({ name, type: "sub_workflow", workflow, ...(project ? { project } : {}) });
const dependent = (project: string, workflow: string) => ({ name: "wait", type: "dependent", checkInterval: 1, dependOn: [{ project, workflow, cycle: "day", dateValue: "today" }] });
const flow = (name: string, ...tasks: unknown[]) => ({ name, tasks: tasks.length > 0 ? tasks : [{ name: "n", type: "noop" }] });

/** mallory owns "alpha"; bob owns "beta" with workflow "secret" (which sets an OUT param). */
async function cast(h: Harness) {
  const mallory = await h.user("mallory");
  const bob = await h.user("bob");
  const m = { token: mallory.token };
  const b = { token: bob.token };
  expect((await h.call("POST", "/api/v1/projects", { ...m, body: { name: "alpha", description: "" } })).status).toBe(201);
  expect((await h.call("POST", "/api/v1/projects", { ...b, body: { name: "beta", description: "" } })).status).toBe(201);
  const secret = { name: "secret", tasks: [{ name: "s", type: "shell", script: "echo '#{setValue(token=beta-only)}'" }] };
  expect((await h.call("POST", "/api/v1/projects/beta/workflows", { ...b, body: secret })).status).toBe(201);
  const member = (role: "viewer" | "developer" | null) =>
    role === null ? h.call("DELETE", "/api/v1/projects/beta/members/mallory", b) : h.call("POST", "/api/v1/projects/beta/members", { ...b, body: { user: "mallory", role } });
  return { m, b, member };
}

describe.each(dialects)("cross-project references (%s)", (dialect) => {
  test("save: a foreign target is refused with exactly the text of a missing one; the role decides what is allowed", async () => {
    await using h = await apiHarness(dialect);
    const { m, b, member } = await cast(h);
    const save = (body: unknown) => h.call("POST", "/api/v1/projects/alpha/workflows", { ...m, body });

    const hidden = await save(flow("steal", sub("beta", "secret")));
    const e = expectError(hidden, 400, "VALIDATION_FAILED", 'workflow "secret" of project "beta" does not exist, or user "mallory" may not run it');
    expect(e.details).toEqual([{ path: "tasks.0.workflow", message: expect.stringContaining("needs the developer role") }]);
    // The same reference once the target is really gone: the very same reply.
    await h.call("POST", "/api/v1/projects/beta/workflows/secret/release", { ...b, body: { state: "OFFLINE" } });
    expect((await h.call("DELETE", "/api/v1/projects/beta/workflows/secret", b)).status).toBe(204);
    const gone = await save(flow("steal", sub("beta", "secret")));
    expect({ status: gone.status, body: gone.json }).toEqual({ status: hidden.status, body: hidden.json });
    // A project that does not exist reads the same too (only the names typed differ).
    const noProject = await save(flow("steal", sub("no-such-project", "secret")));
    expect(noProject.json).toEqual(JSON.parse(JSON.stringify(hidden.json).replaceAll('\\"beta\\"', '\\"no-such-project\\"')));
    expectError(await save(flow("peek", dependent("beta", "secret"))), 400, "VALIDATION_FAILED", 'does not exist, or user "mallory" may not see it');
    expectError(await save(flow("local", sub(undefined, "not-saved-yet"))), 400, "VALIDATION_FAILED", 'workflow "not-saved-yet" of project "alpha" does not exist');

    await h.call("POST", "/api/v1/projects/beta/workflows", { ...b, body: { name: "secret", tasks: [{ name: "s", type: "noop" }] } });
    expect((await member("viewer")).status).toBe(201);
    expectError(await save(flow("steal", sub("beta", "secret"))), 400, "VALIDATION_FAILED", "needs the developer role");
    expect((await save(flow("peek", dependent("beta", "secret")))).status).toBe(201);
    expect((await h.call("PATCH", "/api/v1/projects/beta/members/mallory", { ...b, body: { role: "developer" } })).status).toBe(200);
    expect((await save(flow("steal", sub("beta", "secret")))).status).toBe(201);
    // Membership gone: a new version with the reference is refused as well.
    expect((await member(null)).status).toBe(204);
    expectError(await h.call("PUT", "/api/v1/projects/alpha/workflows/steal", { ...m, body: flow("steal", sub("beta", "secret")) }), 400, "VALIDATION_FAILED", "may not run it");
  }, 30_000);

  test("save and rollback refuse a sub_workflow cycle and name it; a step in a hidden project is named only as such", async () => {
    await using h = await apiHarness(dialect);
    const { m } = await cast(h);
    const put = (name: string, body: unknown) => h.call("PUT", `/api/v1/projects/alpha/workflows/${name}`, { ...m, body });
    for (const name of ["x", "y"]) expect((await h.call("POST", "/api/v1/projects/alpha/workflows", { ...m, body: flow(name) })).status).toBe(201);
    expect((await put("y", flow("y", sub(undefined, "x")))).status).toBe(200);
    expectError(await put("x", flow("x", sub(undefined, "y"))), 400, "VALIDATION_FAILED", "sub_workflow cycle: alpha/x → alpha/y → alpha/x");
    expectError(await put("x", flow("x", sub("alpha", "x"))), 400, "VALIDATION_FAILED", "sub_workflow cycle: alpha/x → alpha/x");

    // Rollback: x v2 calls z; z later calls x; making x v2 current again would close z → x → z.
    expect((await h.call("POST", "/api/v1/projects/alpha/workflows", { ...m, body: flow("z") })).status).toBe(201);
    expect((await put("x", flow("x", sub(undefined, "z")))).status).toBe(200);
    expect((await put("x", flow("x"))).status).toBe(200);
    expect((await put("z", flow("z", sub(undefined, "x")))).status).toBe(200);
    expectError(await h.call("POST", "/api/v1/projects/alpha/workflows/x/current-version", { ...m, body: { version: 2 } }), 400, "VALIDATION_FAILED", "sub_workflow cycle: alpha/x → alpha/z → alpha/x");

    // alpha/w → beta/b1 (mallory is a developer there) → gamma/g1 (hidden from her) → alpha/w.
    const admin = { token: h.adminToken };
    expect((await h.call("POST", "/api/v1/projects/alpha/workflows", { ...m, body: flow("w") })).status).toBe(201);
    expect((await h.call("POST", "/api/v1/projects", { ...admin, body: { name: "gamma", description: "" } })).status).toBe(201);
    expect((await h.call("POST", "/api/v1/projects/gamma/workflows", { ...admin, body: flow("g1", sub("alpha", "w")) })).status).toBe(201);
    expect((await h.call("POST", "/api/v1/projects/beta/workflows", { ...admin, body: flow("b1", sub("gamma", "g1")) })).status).toBe(201);
    await h.call("POST", "/api/v1/projects/beta/members", { ...admin, body: { user: "mallory", role: "developer" } });
    const e = expectError(await put("w", flow("w", sub("beta", "b1"))), 400, "VALIDATION_FAILED");
    expect(e.message).toContain("sub_workflow cycle: alpha/w → beta/b1 → (a workflow of a project you are not a member of) → alpha/w");
    expect(e.message).not.toContain("gamma");
  }, 30_000);

  test("run: allowed while a developer there (child audited in the target project); refused once removed — the task fails, no child, nothing read", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    const { m, b, member } = await cast(h);
    expect((await member("developer")).status).toBe(201);
    const save = (body: unknown) => h.call("POST", "/api/v1/projects/alpha/workflows", { ...m, body });
    expect((await save(flow("steal", sub("beta", "secret"), { name: "leak", type: "shell", deps: ["sub"], script: "echo got ${token}" }))).status).toBe(201);
    expect((await save(flow("peek", dependent("beta", "secret")))).status).toBe(201);
    const run = async (name: string) => {
      const started = await h.call("POST", `/api/v1/projects/alpha/workflows/${name}/run`, { ...m, body: {} });
      expect(started.status).toBe(201);
      const id = started.json.id as number;
      return h.waitFor(`${name} to end`, async () => {
        const i = (await h.call("GET", `/api/v1/workflow-instances/${id}`, m)).json;
        return ["SUCCESS", "FAILURE", "STOP"].includes(i.state) ? i : null;
      });
    };
    const betaRuns = async () => (await h.call("GET", "/api/v1/projects/beta/workflow-instances", b)).json.total as number;

    const allowed = await run("steal");
    expect(allowed.state).toBe("SUCCESS");
    expect(await betaRuns()).toBe(1);
    expect((await h.call("GET", "/api/v1/projects/beta/workflow-instances", b)).json.items[0]).toMatchObject({ depth: 1, parentTaskInstanceId: expect.any(Number) });
    const audit = (await h.call("GET", "/api/v1/projects/beta/audit?limit=100", b)).json.items.find((a: { action: string }) => a.action === "sub_workflow.start");
    expect(audit).toMatchObject({ actorName: "mallory", details: { parentWorkflowInstanceId: allowed.id, crossProject: true } });

    expect((await member(null)).status).toBe(204);
    const refused = await run("steal");
    expect(refused.state).toBe("FAILURE");
    const task = refused.tasks.find((t: { taskName: string }) => t.taskName === "sub");
    expect(task).toMatchObject({ state: "FAILURE", message: 'sub_workflow: workflow "secret" of project "beta" does not exist, or user "mallory" may not run it: a sub_workflow target needs the developer role (or higher) in its project' });
    expect(refused.tasks.some((t: { taskName: string }) => t.taskName === "leak")).toBe(false);
    expect(await betaRuns()).toBe(1);

    const peek = await run("peek");
    expect(peek.state).toBe("FAILURE");
    expect(peek.tasks[0].message).toBe('dependent: workflow "secret" of project "beta" does not exist, or user "mallory" may not see it: a dependent target needs the viewer role (or higher) in its project');
  }, 30_000);
});
