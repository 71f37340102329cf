// A user never reads or changes another project's objects, whatever names or
// ids they put in the path or the body. The test walks the route registry, so a
// route added later is attacked too (or the test fails asking how to fill it).

import { describe, expect, test } from "bun:test";
import { routeRegistry } from "../../../src/api/routes/index.ts";
import type { Route } from "../../../src/api/route.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, seedInstance, type Harness } from "./harness.ts";

const SECRET_SCRIPT = "echo alpha-secret-script";

/**
 * Alice's project, with a workflow in two versions, a second member and audit entries, a
 * datasource, and a workflow instance with one task attempt (written as the engine would).
 */
async function victim(h: Harness) {
  const alice = await h.user("alice");
  await h.user("alice-friend");
  const as = { token: alice.token };
  expect((await h.call("POST", "/api/v1/projects", { ...as, body: { name: "alpha-private", description: "alpha-description" } })).status).toBe(201);
  await h.call("PATCH", "/api/v1/projects/alpha-private", { ...as, body: { params: { alphaParam: "alpha-param-value" } } });
  await h.call("POST", "/api/v1/projects/alpha-private/members", { ...as, body: { user: "alice-friend", role: "developer" } });
  const wf = { name: "alpha-flow", description: "alpha-flow-description", tasks: [{ name: "alpha-task", type: "shell", script: SECRET_SCRIPT }] };
  await h.call("POST", "/api/v1/projects/alpha-private/workflows", { ...as, body: wf });
  // A changed definition: an identical PUT stores no version 2.
  await h.call("PUT", "/api/v1/projects/alpha-private/workflows/alpha-flow", { ...as, body: { ...wf, description: "alpha-flow-description, second" } });
  const ds = { name: "alpha-ds", host: "alpha-db-host", database: "alpha-db", user: "alpha-db-user", password: "alpha-ds-password" };
  expect((await h.call("POST", "/api/v1/projects/alpha-private/datasources", { ...as, body: ds })).status).toBe(201);
  // Alerts: a channel (its secret URL), a group and a policy of the victim's.
  const hook = { name: "alpha-hook", type: "slack", secrets: { url: "https://hooks.example.com/alpha-alert-secret" } };
  expect((await h.call("POST", "/api/v1/projects/alpha-private/alert-channels", { ...as, body: hook })).status).toBe(201);
  expect((await h.call("POST", "/api/v1/projects/alpha-private/alert-groups", { ...as, body: { name: "alpha-group", channels: ["alpha-hook"] } })).status).toBe(201);
  const policyId = (await h.call("POST", "/api/v1/projects/alpha-private/alert-policies", { ...as, body: { workflow: "alpha-flow", group: "alpha-group", events: ["failure"] } })).json.id as number;
  const tokenId = (await h.call("GET", "/api/v1/tokens", as)).json.items[0].id as number;
  const project = (await h.call("GET", "/api/v1/projects/alpha-private", as)).json;
  const run = await seedInstance(h.store, project.id, "alpha-flow", {
    params: { runParam: "alpha-run-param" },
    task: "alpha-task",
    taskParams: { taskParam: "alpha-task-param" },
    output: { out: "alpha-out-param" },
  });
  return { alice, tokenId, project, instanceId: run.instance.id, taskInstanceId: run.taskInstanceId, policyId };
}

/** Everything an outsider must never see. */
const SECRETS = [
  "alpha-secret-script",
  "alpha-description",
  "alpha-param-value",
  "alpha-flow-description",
  "alpha-task",
  "alice-friend",
  "alpha-ds",
  "alpha-db",
  "alpha-run-param",
  "alpha-out-param",
  "alpha-hook",
  "alpha-group",
  "alpha-alert-secret",
];

async function snapshot(h: Harness, token: string, ids: { instanceId: number; taskInstanceId: number }) {
  const as = { token };
  const paths = [
    "/api/v1/projects/alpha-private/datasources",
    "/api/v1/projects/alpha-private/datasources/alpha-ds",
    "/api/v1/projects/alpha-private/alert-channels",
    "/api/v1/projects/alpha-private/alert-groups/alpha-group",
    "/api/v1/projects/alpha-private/alert-policies",
    "/api/v1/projects/alpha-private/workflow-instances",
    `/api/v1/workflow-instances/${ids.instanceId}`,
    `/api/v1/task-instances/${ids.taskInstanceId}`,
    "/api/v1/projects/alpha-private",
    "/api/v1/projects/alpha-private/members",
    "/api/v1/projects/alpha-private/workflows",
    "/api/v1/projects/alpha-private/workflows/alpha-flow",
    "/api/v1/projects/alpha-private/workflows/alpha-flow/versions",
    "/api/v1/projects/alpha-private/audit?limit=500",
    "/api/v1/tokens",
  ];
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    const reply = await h.call("GET", path, as);
    expect({ path, status: reply.status }).toEqual({ path, status: 200 });
    out[path] = reply.json;
  }
  return out;
}

/** Path values aimed at the victim's objects: each `:id` and `:name` is one of the victim's, of the route's kind. */
function victimValues(
  route: Route,
  base: Record<string, string>,
  ids: { tokenId: number; instanceId: number; taskInstanceId: number; policyId?: number },
): Record<string, string> {
  const p = route.path;
  if (p.startsWith("/api/v1/workflow-instances/")) return { ...base, id: String(ids.instanceId) };
  if (p.startsWith("/api/v1/task-instances/")) return { ...base, id: String(ids.taskInstanceId) };
  if (p.includes("/datasources/")) return { ...base, name: "alpha-ds" };
  if (p.includes("/alert-channels/")) return { ...base, name: "alpha-hook" };
  if (p.includes("/alert-groups/")) return { ...base, name: "alpha-group" };
  if (p.includes("/alert-policies/")) return { ...base, id: String(ids.policyId) };
  return { ...base, id: String(ids.tokenId) };
}

function fillPath(route: Route, values: Record<string, string>): string {
  return route.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${route.method} ${route.path}: the cross-project test has no value for :${name}; add one`);
    return encodeURIComponent(value);
  });
}

/** The route's example body, aimed at the victim's objects. */
function attackBody(route: Route): unknown {
  if (route.example === undefined) return route.body ? {} : undefined;
  const body = structuredClone(route.example) as Record<string, unknown>;
  if ("user" in body) body.user = "mallory";
  if ("role" in body) body.role = "owner";
  if (route.path.includes("/workflows") && "name" in body) body.name = "alpha-flow";
  if ("version" in body) body.version = 1;
  return body;
}

describe.each(dialects)("cross-project authorization on %s", (dialect) => {
  test("another user gets 403/404 and no data on every route, with the victim's names and ids", async () => {
    await using h = await apiHarness(dialect);
    const { alice, tokenId, instanceId, taskInstanceId, policyId } = await victim(h);
    const ids = { tokenId, instanceId, taskInstanceId, policyId };
    const before = await snapshot(h, alice.token, ids);

    const mallory = await h.user("mallory");
    await h.call("POST", "/api/v1/projects", { token: mallory.token, body: { name: "mallory-proj" } });
    await h.call("POST", "/api/v1/projects/mallory-proj/workflows", {
      token: mallory.token,
      body: { name: "mallory-flow", tasks: [{ name: "t", type: "noop" }] },
    });

    const base = { project: "alpha-private", name: "alpha-flow", v: "1", user: "alice-friend" };
    const seen = new Set<string>();
    for (const route of routeRegistry) {
      if (route.auth === "public") continue;
      // Logging out revokes the token it is sent with; give it one of its own.
      const token = route.path.endsWith("/logout")
        ? (await h.call("POST", "/api/v1/tokens", { token: mallory.token, body: { name: "spare" } })).json.token
        : mallory.token;
      const values = victimValues(route, base, ids);
      const path = fillPath(route, values);
      const reply = await h.call(route.method, path, { token, body: attackBody(route) });
      const label = `${route.method} ${route.path}`;
      seen.add(label);
      for (const secret of SECRETS) expect({ label, leaked: reply.text.includes(secret) }).toEqual({ label, leaked: false });

      if (route.projectRole) {
        // Same answer as for a project that does not exist: no hint it is there.
        expect({ label, status: reply.status, code: reply.json?.error?.code }).toEqual({ label, status: 404, code: "NOT_FOUND" });
        const ghost = await h.call(route.method, fillPath(route, { ...values, project: "no-such-project" }), {
          token,
          body: attackBody(route),
        });
        expect(reply.json.error.message.replace("alpha-private", "X")).toBe(ghost.json.error.message.replace("no-such-project", "X"));
      } else if (route.owner) {
        // An instance of a project one is not in answers exactly like an id that does not exist.
        expect({ label, status: reply.status, code: reply.json?.error?.code }).toEqual({ label, status: 404, code: "NOT_FOUND" });
        const ghostId = "2000000000";
        const ghost = await h.call(route.method, fillPath(route, { ...values, id: ghostId }), { token, body: attackBody(route) });
        expect(reply.json.error.message.replace(values.id!, "X")).toBe(ghost.json.error.message.replace(ghostId, "X"));
      } else if (route.auth === "admin") {
        expect({ label, status: reply.status }).toEqual({ label, status: 403 });
      } else if (route.path.includes(":")) {
        // The caller's own objects only (their tokens): someone else's id is not found.
        expect({ label, status: reply.status }).toEqual({ label, status: 404 });
      } else {
        // Routes about the caller themselves succeed, showing only their own things.
        expect({ label, ok: reply.status < 300 }).toEqual({ label, ok: true });
      }
    }
    expect(seen.size).toBe(routeRegistry.filter((r) => r.auth !== "public").length);

    // Mallory sees her own project only; Alice's project is exactly as it was.
    const list = await h.call("GET", "/api/v1/projects", { token: mallory.token });
    expect(list.json.items.map((p: { name: string }) => p.name).sort()).toEqual(["analytics", "mallory-proj"]);
    expect(await snapshot(h, alice.token, ids)).toEqual(before);
  });

  test("ids in bodies are never honoured: a body naming another project is refused on one's own project", async () => {
    await using h = await apiHarness(dialect);
    const { project } = await victim(h);
    const mallory = await h.user("mallory");
    await h.call("POST", "/api/v1/projects", { token: mallory.token, body: { name: "mallory-proj" } });
    await h.call("POST", "/api/v1/projects/mallory-proj/workflows", {
      token: mallory.token,
      body: { name: "alpha-flow", tasks: [{ name: "t", type: "noop" }] },
    });
    const values = { project: "mallory-proj", name: "alpha-flow", v: "1", user: "mallory", id: "1" };
    for (const route of routeRegistry.filter((r) => r.projectRole && r.body)) {
      const body = { ...(attackBody(route) as object), projectId: project.id, project: "alpha-private" };
      const reply = await h.call(route.method, fillPath(route, values), { token: mallory.token, body });
      const label = `${route.method} ${route.path}`;
      expect({ label, status: reply.status, code: reply.json.error?.code }).toEqual({ label, status: 400, code: "VALIDATION_FAILED" });
      const paths = reply.json.error.details.map((d: { path: string }) => d.path).join(" ") + reply.json.error.message;
      expect(paths).toMatch(/projectId/);
    }
    // The victim's workflow of the same name is untouched, still at version 2.
    const adminView = await h.call("GET", "/api/v1/projects/alpha-private/workflows/alpha-flow");
    expect(adminView.json).toMatchObject({ latestVersion: 2 });
    expect(JSON.stringify(adminView.json.definition)).toContain("alpha-secret-script");
  });

  test("a member of one project cannot reach another project by renaming or switching in the path", async () => {
    await using h = await apiHarness(dialect);
    await victim(h);
    const mallory = await h.user("mallory");
    await h.call("POST", "/api/v1/projects", { token: mallory.token, body: { name: "mallory-proj" } });
    for (const path of [
      "/api/v1/projects/alpha-private%2F..%2Fmallory-proj",
      "/api/v1/projects/mallory-proj/../alpha-private",
      "/api/v1/projects/ALPHA-PRIVATE",
    ]) {
      const reply = await h.call("GET", path, { token: mallory.token });
      expect(reply.status).toBe(404);
      for (const secret of SECRETS) expect(reply.text).not.toContain(secret);
    }
    // Renaming one's own project onto the victim's name is a conflict, not a takeover.
    const rename = await h.call("PATCH", "/api/v1/projects/mallory-proj", { token: mallory.token, body: { name: "alpha-private" } });
    expect(rename.status).toBe(409);
  });
});
