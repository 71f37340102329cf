// Serving modes started as real processes from source: first start, restarts, one process per
// data directory, signals, and the api mode on Postgres + Redis.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabaseUrl, testRedisUrl } from "../helpers/stores.ts";
import { cleanEnv, fromSource, run, spawn, waitForStatus } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-serve-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const READY = /porpoise (?:all|api) ready on (http:\/\/127\.0\.0\.1:(\d+))/;

async function get(url: string, token?: string): Promise<number> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  await res.arrayBuffer();
  return res.status;
}

describe("porpoise all", () => {
  test("first start writes a one-time admin token 0600 (not printed: no terminal), and the token works; a restart keeps it", async () => {
    const dataDir = join(tmp, "first");
    let token: string;
    {
      await using p = spawn(fromSource(["all", "--port", "0", "--data-dir", dataDir]), { cwd: tmp });
      const [, url] = await p.waitFor(READY);
      expect(p.stdout()).toContain(`Its admin API token is in ${dataDir}/admin-token (mode 0600); it is not printed`);
      token = (await Bun.file(join(dataDir, "admin-token")).text()).trim();
      expect(token).toMatch(/^pp_/);
      // Output without a terminal is what a container ships as logs: the token is never in it.
      expect(p.stdout() + p.stderr()).not.toContain(token);
      expect(statSync(join(dataDir, "admin-token")).mode & 0o777).toBe(0o600);
      expect((await Bun.file(join(dataDir, "admin-token")).text()).trim()).toBe(token);
      expect(await get(`${url}/readyz`)).toBe(200);
      expect(await get(`${url}/api/v1/projects`, token)).toBe(200);
      expect(await get(`${url}/api/v1/projects`, `${token}x`)).toBe(401);
      expect(await get(`${url}/api/v1/projects`)).toBe(401);

      // One process per data directory: a second one is refused while the first runs.
      const second = await run(fromSource(["all", "--port", "0", "--data-dir", dataDir]), { cwd: tmp });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`data directory ${dataDir} is in use by another porpoise process (pid ${p.pid})`);

      p.signal("SIGINT");
      expect(await p.exit()).toBe(0);
      expect(p.stderr()).toContain("SIGINT received: stopping");
    }
    // Restart on the same directory: nothing new is printed, the old token still works.
    await using again = spawn(fromSource(["all", "--port", "0", "--data-dir", dataDir]), { cwd: tmp });
    const [, url] = await again.waitFor(READY);
    expect(again.stdout()).not.toContain("Created user");
    expect(await get(`${url}/api/v1/projects`, token)).toBe(200);
    again.signal("SIGTERM");
    expect(await again.exit()).toBe(0);
  });

  test("PORPOISE_ADMIN_TOKEN presets the admin token (and it is not printed)", async () => {
    const preset = "automation-token-0123456789abcdefghij";
    await using p = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "preset")]), {
      cwd: tmp,
      env: cleanEnv({ PORPOISE_ADMIN_TOKEN: preset }),
    });
    const [, url] = await p.waitFor(READY);
    expect(await get(`${url}/api/v1/projects`, preset)).toBe(200);
    expect(p.stdout() + p.stderr()).not.toContain(preset);
    p.signal("SIGTERM");
    expect(await p.exit()).toBe(0);
  });

  test("a port already in use is a runtime failure (exit 1) that says what to do", async () => {
    const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("busy") });
    try {
      const r = await run(fromSource(["all", "--port", String(taken.port), "--data-dir", join(tmp, "busy")]), { cwd: tmp });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${taken.port}: the address is already in use; pass another --port`);
      // The port is taken before the database is touched.
      expect(await Bun.file(join(tmp, "busy", "porpoise.db")).exists()).toBe(false);
    } finally {
      taken.stop(true);
    }
  });
});

/** A login request whose body arrives in two parts, over a raw socket, so the test decides when it ends. */
async function slowLogin(base: string) {
  const { hostname, port } = new URL(base);
  const body = JSON.stringify({ username: "admin", password: "not-the-password" });
  const half = Math.floor(body.length / 2);
  let received = "";
  let closed!: (text: string) => void;
  const response = new Promise<string>((resolve) => (closed = resolve));
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data: (_s, chunk) => void (received += chunk.toString()),
      close: () => closed(received),
      error: () => closed(received),
    },
  });
  socket.write(
    `POST /api/v1/login HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, half)}`,
  );
  socket.flush();
  // The server handles connections in order: once a later request is answered, this one has
  // been accepted and its handler is waiting for the rest of the body.
  expect(await get(`${base}/healthz`)).toBe(200);
  return { finish: () => void (socket.write(body.slice(half)), socket.flush()), response };
}

describe("shutdown", () => {
  test("SIGTERM lets an in-flight request finish, refuses new connections, then exits 0", async () => {
    await using p = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "drain"), "--shutdown-timeout", "30"]), { cwd: tmp });
    const [, url] = await p.waitFor(READY);
    const slow = await slowLogin(url as string);
    p.signal("SIGTERM");
    await p.waitFor(/SIGTERM received: stopping \(in-flight requests get up to 30s\)/);
    // Not accepting any more (a condition to wait for, not a sleep).
    await waitForRefusal(`${url}/healthz`);
    slow.finish();
    expect(await slow.response).toStartWith("HTTP/1.1 401");
    expect(await p.exit()).toBe(0);
    expect(p.stderr()).not.toContain("cut off");
  });

  test("a request still running at the deadline is cut off, and the process still exits 0", async () => {
    await using p = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "deadline"), "--shutdown-timeout", "1"]), { cwd: tmp });
    const [, url] = await p.waitFor(READY);
    const slow = await slowLogin(url as string);
    p.signal("SIGTERM");
    expect(await p.exit()).toBe(0);
    expect(p.stderr()).toContain("requests still running after 1s were cut off");
    expect(await slow.response).toBe("");
  });
});

async function waitForRefusal(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await fetch(url, { headers: { connection: "close" } })).arrayBuffer();
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`${url} still accepted connections after ${timeoutMs} ms`);
    await Bun.sleep(5); // poll interval
  }
}

describe("porpoise api", () => {
  test("serves the API on Postgres with Redis and a secret; SIGTERM stops it with exit 0", async () => {
    await using db = await freshDatabaseUrl("postgres");
    const env = { PORPOISE_DB: db.url, PORPOISE_REDIS: testRedisUrl(), PORPOISE_SECRET: "api-test-cluster-secret" };
    {
      // No terminal and no data dir: the random first-start token is shown nowhere; the line says how to get in.
      await using p = spawn(fromSource(["api", "--port", "0"]), { cwd: tmp, env: cleanEnv(env) });
      const [, url] = await p.waitFor(READY);
      await waitForStatus(`${url}/readyz`, 200);
      expect(p.stdout()).toContain("with a random API token that is not shown");
      expect(p.stdout() + p.stderr()).not.toMatch(/pp_[A-Za-z0-9_-]{20}/);
      p.signal("SIGTERM");
      expect(await p.exit()).toBe(0);
    }
    // The operator's preset token is added to admin on the next start.
    const preset = "api-preset-token-0123456789abcdefghijkl";
    await using p = spawn(fromSource(["api", "--port", "0"]), { cwd: tmp, env: cleanEnv({ ...env, PORPOISE_ADMIN_TOKEN: preset }) });
    const [, url] = await p.waitFor(READY);
    await waitForStatus(`${url}/readyz`, 200);
    expect(await get(`${url}/api/v1/projects`, preset)).toBe(200);
    p.signal("SIGTERM");
    expect(await p.exit()).toBe(0);
  });

  test("Redis that does not answer is a runtime failure naming it", async () => {
    await using db = await freshDatabaseUrl("postgres");
    const r = await run(fromSource(["api", "--port", "0", "--db", db.url, "--redis", "redis://127.0.0.1:1", "--secret", "api-test-cluster-secret"]), { cwd: tmp });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Redis at redis://127.0.0.1:1 does not answer");
  });
});
