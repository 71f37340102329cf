// POST …/run with an Idempotency-Key (docs/architecture.md §3.5): a request sent again after its
// answer was lost finds the run it created instead of starting a second one, on both dialects
// (Postgres creates a plain run in one statement, SQLite in a transaction: both paths carry the
// key). Reusing a key for another request, or a malformed key, is refused naming the header, and
// nothing stored changes.

import { describe, expect, test } from "bun:test";
import { createApiClient } from "../../../src/cli/client.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const P = "/api/v1/projects/analytics";

async function setup(h: Harness) {
  await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
  await h.call("POST", "/api/v1/projects", { body: { name: "other" } });
  for (const [project, name] of [["analytics", "etl"], ["analytics", "report"], ["other", "etl"]]) {
    const saved = await h.call("POST", `/api/v1/projects/${project}/workflows`, { body: { name, tasks: [{ name: "t", type: "noop" }] } });
    expect(saved.status).toBe(201);
  }
}

const runs = async (h: Harness, project = "analytics") => (await h.call("GET", `/api/v1/projects/${project}/workflow-instances`)).json.items as { id: number }[];

describe.each(dialects)("run requests with an Idempotency-Key (%s)", (dialect) => {
  test("the same key answers with the run it created, once per project; other keys and no key start new runs", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    await setup(h);
    const key = { "idempotency-key": "3f1c2a7e-7f0a-4b8e-9d3e-2f8c1a6b5d40" };
    const first = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "2026-12-05", n: 1 } }, headers: key });
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    // The same request again (params in another order): the same run, said to be replayed.
    const again = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { n: 1, day: "2026-12-05" } }, headers: key });
    expect(again.status).toBe(201);
    expect(again.json.id).toBe(first.json.id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await runs(h)).map((r) => r.id)).toEqual([first.json.id]);
    // Keys are per project: the same key in another project is another run.
    const elsewhere = await h.call("POST", "/api/v1/projects/other/workflows/etl/run", { body: {}, headers: key });
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.json.id).not.toBe(first.json.id);
    // Another key, and no key, start runs of their own.
    const second = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "2026-12-05", n: 1 } }, headers: { "idempotency-key": "another" } });
    const third = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "2026-12-05", n: 1 } } });
    const fourth = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "2026-12-05", n: 1 } } });
    expect(new Set([first.json.id, second.json.id, third.json.id, fourth.json.id]).size).toBe(4);
    expect(await runs(h)).toHaveLength(4);
  });

  test("concurrent sends of one request create one run", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    await setup(h);
    const headers = { "idempotency-key": "burst-1" };
    const replies = await Promise.all(Array.from({ length: 8 }, () => h.call("POST", `${P}/workflows/etl/run`, { body: {}, headers })));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(new Set(replies.map((r) => r.json.id)).size).toBe(1);
    expect(replies.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(7);
    expect(await runs(h)).toHaveLength(1);
  });

  test("a key reused for another workflow or other params is 409 naming the header; a malformed key is 400; nothing is created", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    await setup(h);
    const headers = { "idempotency-key": "nightly-2026-12-05" };
    const first = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "1" } }, headers });
    expect(first.status).toBe(201);
    const otherWorkflow = await h.call("POST", `${P}/workflows/report/run`, { body: { params: { day: "1" } }, headers });
    const err = expectError(otherWorkflow, 409, "CONFLICT", /Idempotency-Key "nightly-2026-12-05" was used for another run request \(workflow instance \d+ of workflow "etl"\)/);
    expect(err.details).toEqual([{ path: "Idempotency-Key", message: "used for another request" }]);
    expectError(await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "2" } }, headers }), 409, "CONFLICT", /used for another run request/);
    for (const bad of ["", "has space", "x".repeat(256), "naïve"]) {
      const reply = await h.call("POST", `${P}/workflows/etl/run`, { body: {}, headers: { "idempotency-key": bad } });
      const e = expectError(reply, 400, "VALIDATION_FAILED", /header Idempotency-Key is invalid: expected 1 to 255 visible ASCII characters/);
      expect(e.details[0]?.path).toBe("Idempotency-Key");
    }
    expect((await runs(h)).map((r) => r.id)).toEqual([first.json.id]);
    // The first run is untouched and still answers its key.
    const again = await h.call("POST", `${P}/workflows/etl/run`, { body: { params: { day: "1" } }, headers });
    expect(again.json.id).toBe(first.json.id);
  });

  test("porpoise run's client: an answer lost after the run was created is sent again with the same key, and one run exists", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    await setup(h);
    const keys: string[] = [];
    let lost = 0;
    // The transport hands every request to the real app; the first two answers to the run are
    // lost after the server created the run (a dropped connection, then a proxy's 503).
    const transport = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = new URL(String(input));
      const res = await h.app.request(url.pathname + url.search, init);
      if (!url.pathname.endsWith("/run")) return res;
      keys.push(new Headers(init?.headers).get("idempotency-key") ?? "");
      if (lost++ === 0) throw new TypeError("socket hang up");
      if (lost === 2) return new Response("upstream timed out", { status: 503 });
      return res;
    };
    const client = createApiClient({ baseUrl: "http://porpoise.test", token: h.adminToken, fetch: transport as typeof fetch });
    const started = await client.run("analytics", "etl", { params: { day: "1" } });
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect((await runs(h)).map((r) => r.id)).toEqual([started.id]);
    // A new run() is a new request: a new key, a second run.
    const next = await client.run("analytics", "etl", { params: { day: "1" } });
    expect(next.id).not.toBe(started.id);
    expect(new Set(keys).size).toBe(2);
  }, 30_000);
});
