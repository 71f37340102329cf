// The http task against a real Bun.serve server on port 0.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runAttempt, type RunAttemptOptions } from "../../../src/worker/executor.ts";
import { MAX_LOGGED_BODY_BYTES } from "../../../src/worker/task-types/http.ts";
import { taskLogPath } from "../../../src/worker/task-log.ts";
import { taskOf, tempDir, waitFor } from "./worker-helpers.ts";

const dir = tempDir("http");
const hanging = new Set<string>();
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/ok":
        return new Response("all good: ok", { headers: { "x-echo": req.headers.get("x-token") ?? "" } });
      case "/echo":
        return Response.json({ method: req.method, token: req.headers.get("x-token"), body: await req.text(), q: url.searchParams.get("q") });
      case "/status":
        return new Response(`status ${url.searchParams.get("code")}`, { status: Number(url.searchParams.get("code")) });
      case "/big":
        return new Response("x".repeat(200 * 1024));
      case "/hang": {
        const id = url.searchParams.get("id")!;
        hanging.add(id);
        return new Promise<Response>(() => {});
      }
    }
    return new Response("not found", { status: 404 });
  },
});
afterAll(() => {
  server.stop(true);
  dir[Symbol.dispose]();
});
const base = `http://127.0.0.1:${server.port}`;

let attempt = 0;
async function run(task: Record<string, unknown>, extra: Partial<RunAttemptOptions> = {}) {
  attempt++;
  const logPath = taskLogPath(join(dir.path, "logs"), 1, attempt, 1);
  const result = await runAttempt({
    task: taskOf({ type: "http", ...task }),
    params: {},
    signal: new AbortController().signal,
    datasources: async () => null,
    attemptDir: join(dir.path, "work", String(attempt)),
    logPath,
    ...extra,
  });
  return { result, log: readFileSync(logPath, "utf8") };
}

describe("http task", () => {
  test("2xx succeeds; status and body in the log; body and status as OUT params", async () => {
    const { result, log } = await run({ url: `${base}/ok`, bodyContains: "ok" });
    expect(result).toEqual({ state: "SUCCESS", outParams: { response: "all good: ok", responseStatus: "200" } });
    expect(log).toContain(`[sys] GET ${base}/ok`);
    expect(log).toContain("[sys] HTTP 200");
    expect(log).toContain("[out] all good: ok");
  });

  test("params are substituted in URL, headers and body; header values stay out of the log", async () => {
    const { result, log } = await run(
      { url: `${base}/echo?q=\${q}`, method: "POST", headers: { "x-token": "${token}" }, body: '{"n":"${n}"}' },
      { params: { q: "search", token: "s3cret-token", n: "7" } },
    );
    expect(result.state).toBe("SUCCESS");
    expect(JSON.parse(result.outParams.response!)).toEqual({ method: "POST", token: "s3cret-token", body: '{"n":"7"}', q: "search" });
    expect(log.split("\n").filter((l) => l.includes("[sys]")).join("\n")).not.toContain("s3cret-token");
  });

  test("non-2xx fails by default, with the status in the message and the body still passed on", async () => {
    const { result, log } = await run({ url: `${base}/status?code=500` });
    expect(result).toMatchObject({ state: "FAILURE", message: "unexpected status 500: expected any 2xx", outParams: { responseStatus: "500", response: "status 500" } });
    expect(log).toContain("unexpected status 500");
  });

  test("an expected status (int or list) replaces the 2xx rule", async () => {
    expect((await run({ url: `${base}/status?code=404`, expectedStatus: 404 })).result.state).toBe("SUCCESS");
    expect((await run({ url: `${base}/status?code=201`, expectedStatus: [200, 201] })).result.state).toBe("SUCCESS");
    const { result } = await run({ url: `${base}/status?code=200`, expectedStatus: [201, 202] });
    expect(result).toMatchObject({ state: "FAILURE", message: "unexpected status 200: expected 201 or 202" });
  });

  test("bodyContains fails when the text is missing", async () => {
    const { result } = await run({ url: `${base}/ok`, bodyContains: "nope" });
    expect(result).toMatchObject({ state: "FAILURE", message: 'the response body does not contain "nope" (bodyContains)' });
  });

  test("a big body is cut in the log and the OUT param, with a line saying so", async () => {
    const { result, log } = await run({ url: `${base}/big` });
    expect(result.state).toBe("SUCCESS");
    expect(result.outParams.response!.length).toBe(MAX_LOGGED_BODY_BYTES);
    expect(log).toContain("response body cut at");
  });

  test("requestTimeout fails a request that does not answer", async () => {
    const { result, log } = await run({ url: `${base}/hang?id=timeout`, requestTimeout: "1s" });
    expect(result).toMatchObject({ state: "FAILURE", message: "request timed out after 1s (requestTimeout)" });
    expect(log).toContain("request timed out");
  });

  test("stop cancels the request", async () => {
    const ac = new AbortController();
    const running = run({ url: `${base}/hang?id=stop` }, { signal: ac.signal });
    await waitFor("the request to reach the server", () => hanging.has("stop"));
    ac.abort();
    const { result, log } = await running;
    expect(result.state).toBe("KILL");
    expect(log).toContain("request cancelled");
  });

  test("a refused connection and a URL broken by substitution are failures with the reason", async () => {
    const refused = await run({ url: "http://127.0.0.1:1/x" });
    expect(refused.result.state).toBe("FAILURE");
    expect(refused.result.message).toStartWith("request failed:");
    const broken = await run({ url: "http://${host}/x" }, { params: { host: "bad host" } });
    expect(broken.result).toMatchObject({ state: "FAILURE" });
    expect(broken.result.message).toContain("not a valid http(s) URL");
  });
});
