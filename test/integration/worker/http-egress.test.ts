// The http task's redirects and egress policy (issue 9 item 5d), against real local servers:
// credentials never follow a cross-origin redirect, redirects are bounded, link-local and
// metadata addresses are denied by default, operator allow/deny lists apply, and the
// connection goes to the address that was checked (DNS rebinding).

import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { egressPolicy } from "../../../src/core/net/egress.ts";
import { type Egress, systemResolve } from "../../../src/worker/egress.ts";
import { runAttempt, type RunAttemptOptions } from "../../../src/worker/executor.ts";
import { MAX_REDIRECTS } from "../../../src/worker/task-types/http.ts";
import { taskLogPath } from "../../../src/worker/task-log.ts";
import { taskOf, tempDir } from "./worker-helpers.ts";

const dir = tempDir("http-egress");
type Seen = { path: string; method: string; host: string | null; headers: Record<string, string>; body: string };
const seenA: Seen[] = [];
const seenB: Seen[] = [];

async function record(req: Request, into: Seen[]): Promise<URL> {
  const url = new URL(req.url);
  into.push({ path: url.pathname, method: req.method, host: req.headers.get("host"), headers: Object.fromEntries(req.headers), body: await req.text() });
  return url;
}

const serverB = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async (req) => (await record(req, seenB), new Response("reached B")) });
const b = `http://127.0.0.1:${serverB.port}`;
const serverA = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = await record(req, seenA);
    const to = url.searchParams.get("to");
    switch (url.pathname) {
      case "/cross":
        return new Response(null, { status: Number(url.searchParams.get("code") ?? 302), headers: { location: to ?? `${b}/landing` } });
      case "/same":
        return new Response(null, { status: 307, headers: { location: "/landing" } });
      case "/loop":
        return new Response(null, { status: 302, headers: { location: "/loop" } });
      case "/landing":
        return new Response("landed on A");
    }
    return new Response("A");
  },
});
const a = `http://127.0.0.1:${serverA.port}`;
afterAll(() => {
  serverA.stop(true);
  serverB.stop(true);
  dir[Symbol.dispose]();
});

const SECRET_HEADERS = { Authorization: "Bearer task-secret", Cookie: "session=task-secret", "X-Api-Key": "task-secret", "X-My-Token": "task-secret" };

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

function clear() {
  seenA.length = 0;
  seenB.length = 0;
}

describe("http task redirects", () => {
  test("a cross-origin redirect drops every header the task set; the first origin got them", async () => {
    for (const code of [301, 302, 303, 307, 308]) {
      clear();
      const { result, log } = await run({ url: `${a}/cross?code=${code}`, headers: SECRET_HEADERS });
      expect(result.state).toBe("SUCCESS");
      expect(result.outParams.response).toBe("reached B");
      expect(seenA[0]!.headers["x-api-key"]).toBe("task-secret");
      expect(seenB).toHaveLength(1);
      expect(JSON.stringify(seenB[0]!.headers)).not.toContain("task-secret");
      expect(log).toContain(`HTTP ${code} → ${b}/landing (another origin: the task's headers are not sent there)`);
    }
  });

  test("a same-origin redirect keeps the headers, method and body (307)", async () => {
    clear();
    const { result } = await run({ url: `${a}/same`, method: "POST", body: "payload", headers: SECRET_HEADERS });
    expect(result.outParams.response).toBe("landed on A");
    expect(seenA[1]).toMatchObject({ path: "/landing", method: "POST", body: "payload" });
    expect(seenA[1]!.headers["x-api-key"]).toBe("task-secret");
  });

  test("303, and 302 after a POST, continue as GET without the body", async () => {
    for (const code of [303, 302]) {
      clear();
      await run({ url: `${a}/cross?code=${code}&to=/landing`, method: "POST", body: "payload" });
      expect(seenA[1]).toMatchObject({ path: "/landing", method: "GET", body: "" });
    }
  });

  test(`redirects are bounded (${MAX_REDIRECTS}); a non-http target is not followed`, async () => {
    clear();
    const loop = await run({ url: `${a}/loop` });
    expect(loop.result.state).toBe("FAILURE");
    expect(loop.result.message).toContain(`more than ${MAX_REDIRECTS} redirects`);
    expect(seenA).toHaveLength(MAX_REDIRECTS + 1);
    const file = await run({ url: `${a}/cross?to=${encodeURIComponent("file:///etc/passwd")}` });
    expect(file.result.message).toContain("redirect to file: is not followed");
  });
});

describe("egress policy", () => {
  test("link-local and metadata addresses are denied by default, also as a redirect target and in mapped-v6 spelling", async () => {
    for (const url of ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/", "http://metadata.google.internal/computeMetadata/v1/", "http://0.0.0.0:1/"]) {
      const { result } = await run({ url });
      expect(result.state).toBe("FAILURE");
      expect(result.message).toMatch(/is not allowed: it matches .* in the built-in egress deny list .* --egress-allow/);
    }
    clear();
    const redirected = await run({ url: `${a}/cross?to=${encodeURIComponent("http://169.254.169.254/latest/meta-data/")}` });
    expect(redirected.result.state).toBe("FAILURE");
    expect(redirected.result.message).toContain("169.254.169.254 is not allowed");
  });

  test("operator lists: --egress-deny adds rules (names, *.domains, CIDRs); --egress-allow wins", async () => {
    const policy = (allow: string[], deny: string[]): Egress => ({ policy: egressPolicy({ allow, deny }), resolve: systemResolve });
    const denied = await run({ url: `${a}/` }, { egress: policy([], ["127.0.0.0/8"]) });
    expect(denied.result.message).toContain("matches 127.0.0.0/8 in --egress-deny");
    const byName = await run({ url: `http://localhost:${serverA.port}/` }, { egress: policy([], ["localhost"]) });
    expect(byName.result.message).toContain("matches localhost in --egress-deny");
    const allowed = await run({ url: `${a}/` }, { egress: policy(["127.0.0.1"], ["127.0.0.0/8"]) });
    expect(allowed.result.state).toBe("SUCCESS");
    // Allowing one metadata-range address opens exactly that one.
    const opened = policy(["169.254.10.10"], []);
    expect(opened.policy.check("169.254.10.10", [])).toEqual({ allowed: true });
    expect(opened.policy.check("169.254.169.254", []).allowed).toBe(false);
  });

  test("DNS rebinding: the name is resolved once, every address checked, and the connection goes to the checked one", async () => {
    let lookups = 0;
    // First answer public-looking (a local server), later answers the metadata address.
    const rebinding: Egress = {
      policy: egressPolicy(),
      resolve: async () => (lookups++ === 0 ? ["127.0.0.1"] : ["169.254.169.254"]),
    };
    clear();
    const { result } = await run({ url: `http://rebind.test:${serverA.port}/landing`, headers: { "X-Api-Key": "k" } }, { egress: rebinding });
    // rebind.test does not exist in DNS: reaching server A proves the checked address was used.
    expect(result.state).toBe("SUCCESS");
    expect(lookups).toBe(1);
    expect(seenA[0]).toMatchObject({ path: "/landing", host: `rebind.test:${serverA.port}` });

    // A v4-mapped v6 answer is connected to as checked too (it needs brackets in the URL).
    const mapped: Egress = { policy: egressPolicy(), resolve: async () => ["::ffff:127.0.0.1"] };
    const viaMapped = await run({ url: `http://mapped.test:${serverA.port}/landing` }, { egress: mapped });
    expect(viaMapped.result.state).toBe("SUCCESS");

    const mixed: Egress = { policy: egressPolicy(), resolve: async () => ["127.0.0.1", "169.254.169.254"] };
    const denied = await run({ url: `http://mixed.test:${serverA.port}/` }, { egress: mixed });
    expect(denied.result.message).toContain("mixed.test (169.254.169.254) is not allowed");
  });
});
