// The bad-input matrix: every wrong request gets the one error shape with a
// message naming the problem, and nothing already stored changes.

import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { createApp } from "../../../src/api/app.ts";
import { errorResponse } from "../../../src/api/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { openStore } from "../../../src/store/open.ts";
import { dialects, freshDatabaseUrl, rawQuery } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

const LIMIT = 4096;

function streamOf(text: string, chunk = 1000): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, (at += chunk)));
    },
  });
}

describe.each(dialects)("API bad input on %s", (dialect) => {
  test("malformed JSON is 400 naming the problem and where it is", async () => {
    await using h = await apiHarness(dialect);
    const cases: [string, string, string][] = [
      ["POST", "/api/v1/projects", '{"name": }'],
      ["POST", "/api/v1/projects", '{"name": "a",}'],
      ["POST", "/api/v1/login", "{'username': 'admin'}"],
      ["POST", "/api/v1/tokens", '{"name": "x"'],
      ["POST", "/api/v1/users", '{"name": "x"}\n{"name": "y"}'],
    ];
    for (const [method, path, body] of cases) {
      const err = expectError(await h.call(method, path, { body, headers: { "content-type": "application/json" } }), 400, "VALIDATION_FAILED");
      expect(err.message).toMatch(/^malformed JSON body: .* at line \d+, column \d+$/);
    }
    expectError(await h.call("POST", "/api/v1/projects", { body: "" }), 400, "VALIDATION_FAILED", /empty/);
    expectError(await h.call("POST", "/api/v1/projects", { body: new Uint8Array([0x7b, 0xff, 0x7d]) as never }), 400, "VALIDATION_FAILED", /UTF-8/);
    expect((await h.call("GET", "/api/v1/projects")).json.total).toBe(0);
  });

  test("wrong types, wrong shapes and unknown fields name each field", async () => {
    await using h = await apiHarness(dialect);
    for (const body of [[], "a string", 42, null, true]) {
      const err = expectError(await h.call("POST", "/api/v1/projects", { body: JSON.stringify(body), headers: { "content-type": "application/json" } }), 400, "VALIDATION_FAILED");
      expect(err.message).toContain("request body is invalid");
    }
    const err = expectError(await h.call("POST", "/api/v1/projects", { body: { name: 7, description: ["x"], colour: "red", size: 1 } }), 400, "VALIDATION_FAILED");
    expect(err.details.map((d) => d.path)).toEqual(expect.arrayContaining(["description", "name"]));
    const unknown = err.details.map((d) => d.message).join("\n");
    expect(unknown).toContain('unknown field "colour"');
    expect(unknown).toContain('unknown field "size"');
    expect(err.details.find((d) => d.path === "name")!.message).toMatch(/expected a string/);
    expect(err.message).toMatch(/problems/);
    // A near miss gets a suggestion.
    const typo = expectError(await h.call("POST", "/api/v1/projects", { body: { name: "ok", descripton: "x" } }), 400, "VALIDATION_FAILED");
    expect(typo.details[0]!.message).toContain('did you mean "description"');
    expectError(await h.call("GET", "/api/v1/projects?limit=ten"), 400, "VALIDATION_FAILED", /limit/);
    expectError(await h.call("GET", "/api/v1/projects?limit=1&limit=2"), 400, "VALIDATION_FAILED", /limit/);
    expect((await h.call("GET", "/api/v1/projects")).json.total).toBe(0);
  });

  test("bodies over the limit are 413: declared, undeclared (chunked) and with a Content-Length that lies", async () => {
    await using h = await apiHarness(dialect, { maxBodyBytes: LIMIT });
    const big = JSON.stringify({ name: "big", description: "x".repeat(LIMIT) });
    const declaredHeaders = { "content-type": "application/json", "content-length": String(big.length) };
    const declared = await h.call("POST", "/api/v1/projects", { body: big, headers: declaredHeaders });
    expectError(declared, 413, "PAYLOAD_TOO_LARGE", `${LIMIT} bytes`);

    const chunked = await h.call("POST", "/api/v1/projects", { body: streamOf(big), headers: { "content-type": "application/json" } });
    expectError(chunked, 413, "PAYLOAD_TOO_LARGE");

    const lying = await h.call("POST", "/api/v1/projects", {
      body: streamOf(big),
      headers: { "content-type": "application/json", "content-length": "20" },
    });
    expectError(lying, 413, "PAYLOAD_TOO_LARGE");

    const yamlBig = `name: big\ntasks:\n${"  - {name: t, type: noop}\n".repeat(200)}`;
    await h.call("POST", "/api/v1/projects", { body: { name: "p" } });
    expectError(await h.call("POST", "/api/v1/projects/p/workflows", { body: streamOf(yamlBig), headers: { "content-type": "application/yaml" } }), 413, "PAYLOAD_TOO_LARGE");

    // Just under the limit is read and validated as usual.
    const fits = JSON.stringify({ name: "fits", description: "x".repeat(1900) });
    expect((await h.call("POST", "/api/v1/projects", { body: streamOf(fits), headers: { "content-type": "application/json" } })).status).toBe(201);
    const names = (await h.call("GET", "/api/v1/projects")).json.items.map((p: { name: string }) => p.name).sort();
    expect(names).toEqual(["fits", "p"]);
    // A declared oversize body is refused before authentication even looks at it.
    expectError(await h.call("POST", "/api/v1/projects", { token: null, body: big, headers: declaredHeaders }), 413, "PAYLOAD_TOO_LARGE");
  });

  test("the default limit is 10 MiB", async () => {
    await using h = await apiHarness(dialect);
    const over = JSON.stringify({ name: "huge", description: "x".repeat(10 * 1024 * 1024) });
    expectError(await h.call("POST", "/api/v1/projects", { body: streamOf(over, 1 << 20), headers: { "content-type": "application/json" } }), 413, "PAYLOAD_TOO_LARGE", "10485760");
    // 1 MiB is read (and then refused for what it says, not for its size).
    const under = JSON.stringify({ name: "big", description: "x".repeat(1024 * 1024) });
    expectError(await h.call("POST", "/api/v1/projects", { body: under, headers: { "content-type": "application/json" } }), 400, "VALIDATION_FAILED", /description/);
  });

  test("unknown routes are 404 and wrong methods 405 in the error shape; content types other than JSON are 415", async () => {
    await using h = await apiHarness(dialect);
    expectError(await h.call("GET", "/api/v1/nothing-here"), 404, "NOT_FOUND", /no route for GET \/api\/v1\/nothing-here/);
    expectError(await h.call("DELETE", "/api/v1/me"), 405, "METHOD_NOT_ALLOWED");
    expectError(await h.call("GET", "/", { token: null }), 404, "NOT_FOUND");
    expectError(await h.call("POST", "/api/v1/projects", { body: '{"name":"x"}', headers: { "content-type": "text/plain" } }), 415, "UNSUPPORTED_MEDIA_TYPE", /application\/json/);
    expect((await h.call("POST", "/api/v1/projects", { body: '{"name":"x"}', headers: { "content-type": "application/json; charset=utf-8" } })).status).toBe(201);
    expect((await h.call("POST", "/api/v1/projects", { body: '{"name":"y"}', headers: { "content-type": "application/vnd.porpoise+json" } })).status).toBe(201);
  });

  test("a store that is away: /readyz is 503; other routes 503 STORE_UNAVAILABLE (Postgres) or a generic 500, never internals", async () => {
    await using db = await freshDatabaseUrl(dialect);
    const store = await openStore({ url: db.url });
    const lines: string[] = [];
    const app = createApp({ store, log: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }) });
    expect((await app.request("/readyz")).status).toBe(200);
    await store.close();
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: unknown }).error).toMatchObject({ code: "NOT_READY", message: expect.stringMatching(/^not ready: /) });
    expect((await app.request("/healthz")).status).toBe(200);
    const me = await app.request("/api/v1/me", { headers: { authorization: "Bearer pp_" + "a".repeat(43) } });
    const requestId = me.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f]{16}$/);
    const body = (await me.json()) as { error: { code: string; message: string } };
    if (dialect === "postgres") {
      // A closed pool answers like a server that went away: the client may retry.
      expect(me.status).toBe(503);
      expect(me.headers.get("retry-after")).toBe("2");
      expect(body.error.code).toBe("STORE_UNAVAILABLE");
      expect(body.error.message).toContain("retry");
    } else {
      expect(me.status).toBe(500);
      expect(body.error.code).toBe("INTERNAL");
    }
    expect(body.error.message).toContain(requestId!);
    expect(body.error.message).not.toMatch(/select|query|closed|api_tokens/i);
    expect(lines.some((l) => JSON.parse(l).requestId === requestId && JSON.parse(l).path === "/api/v1/me")).toBe(true);
  });

  test("a failed query is a 500 with a request id: the SQL and the driver message go to the log only", async () => {
    await using h = await apiHarness(dialect);
    const lines: string[] = [];
    const app = createApp({ store: h.store, log: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }) });
    await rawQuery(h.store.url, "ALTER TABLE projects RENAME TO projects_gone");
    const res = await app.request("/api/v1/projects", { headers: { authorization: `Bearer ${h.adminToken}` } });
    expect(res.status).toBe(500);
    const text = await res.text();
    const requestId = res.headers.get("x-request-id")!;
    expect(JSON.parse(text)).toEqual({
      error: { code: "INTERNAL", message: `internal error (request id ${requestId}): the server log has the details`, details: [] },
    });
    expect(text).not.toMatch(/select|projects|query|relation|table/i);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === requestId);
    expect(logged).toMatchObject({ level: "error", path: "/api/v1/projects", code: "STORE_ERROR" });
    expect(JSON.stringify(logged)).toMatch(/select/i);
  });
});

test("an unexpected error is a generic 500: no internals to the client, the cause in the log", async () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", format: "json", write: (l) => lines.push(l) });
  const app = new Hono();
  app.get("/boom", () => {
    throw new TypeError("secret internal detail", { cause: new Error("root cause") });
  });
  app.onError((err, c) => errorResponse(err, c, log));
  const res = await app.request("/boom");
  expect(res.status).toBe(500);
  const text = await res.text();
  const requestId = res.headers.get("x-request-id")!;
  expect(JSON.parse(text)).toEqual({ error: { code: "INTERNAL", message: `internal error (request id ${requestId}): the server log has the details`, details: [] } });
  expect(text).not.toContain("secret");
  const entry = JSON.parse(lines[0]!);
  expect(entry).toMatchObject({ level: "error", path: "/boom", requestId });
  expect(entry.err).toContain("secret internal detail");
  expect(entry.cause).toContain("root cause");
});

