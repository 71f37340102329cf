// Settings of `porpoise all` that reach the engine, seen from outside: a real process, the
// HTTP API and the files in its data directory.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiClient, createApiClient, type InstanceView } from "../../src/cli/client.ts";
import { isTerminalWorkflowState, type WorkflowState } from "../../src/core/states.ts";
import type { WorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import { rawQuery, testPostgresUrl } from "../helpers/stores.ts";
import { cleanEnv, fromSource, type Spawned, spawn } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-all-settings-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const READY = /porpoise all ready on (http:\/\/127\.0\.0\.1:\d+)/;
const TOKEN = "all-settings-token-0123456789abcdefghijkl";

async function startAll(dataDir: string, flags: string[] = []): Promise<{ p: Spawned; api: ApiClient }> {
  const p = spawn(fromSource(["all", "--port", "0", "--data-dir", dataDir, ...flags]), { cwd: tmp, env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN }) });
  const [, url] = await p.waitFor(READY);
  return { p, api: createApiClient({ baseUrl: url as string, token: TOKEN }) };
}

async function runToEnd(api: ApiClient, definition: unknown): Promise<InstanceView> {
  if ((await api.getProject("default")) === null) await api.createProject("default");
  const name = (definition as { name: string }).name;
  if ((await api.getWorkflow("default", name)) === null) await api.createWorkflow("default", definition as WorkflowDefinition);
  const { id } = await api.run("default", name, {});
  for (;;) {
    const view = await api.instance(id);
    if (isTerminalWorkflowState(view.state as WorkflowState)) return view;
    await Bun.sleep(20);
  }
}

describe("--task-log-max-bytes", () => {
  test("a task printing past the cap shows one truncation line in its log through the API, and still succeeds", async () => {
    const { p, api } = await startAll(join(tmp, "log-cap"), ["--task-log-max-bytes", "2KiB"]);
    await using _ = p;
    // 200 lines of ~60 bytes each (with the timestamp prefix): about 6x the cap.
    const view = await runToEnd(api, {
      name: "chatty",
      tasks: [{ name: "talk", type: "shell", script: 'for i in $(seq 1 200); do echo "line $i of the chatty task"; done' }],
    });
    expect(view.state).toBe("SUCCESS");
    const [task] = view.tasks;
    const page = await api.log(task?.id as number, 0);
    expect(page.text).toContain("[out] line 1 of the chatty task");
    expect(page.text).not.toContain("line 200 of the chatty task");
    const truncations = page.text.split("\n").filter((l) => l.includes("[sys] log truncated"));
    expect(truncations).toHaveLength(1);
    expect(truncations[0]).toContain("reached its cap of 2048 bytes");
    // Nothing the task printed comes after the truncation line (porpoise's own end lines are dropped too).
    expect(page.text.trimEnd().split("\n").at(-1)).toContain("[sys] log truncated");
    expect(page.size).toBeLessThanOrEqual(2048 + 300);
    p.signal("SIGTERM");
    expect(await p.exit()).toBe(0);
  });
});

describe("datasource passwords at rest", () => {
  const PASSWORD = "hunter2-plaintext-password";
  const pg = new URL(testPostgresUrl());
  const datasource = {
    name: "warehouse",
    host: pg.hostname,
    port: Number(pg.port || 5432),
    database: "postgres",
    user: decodeURIComponent(pg.username || "postgres"),
    password: PASSWORD,
  };
  const query = { name: "query", tasks: [{ name: "count", type: "sql", datasource: "warehouse", sql: "SELECT 1 AS one" }] };

  async function post(api: ApiClient, path: string, body: unknown): Promise<Response> {
    return fetch(`${api.baseUrl}/api/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  test("all without --secret makes <data-dir>/secret-key (0600, never printed), encrypts with it, and reads it back after a restart; another key fails clearly", async () => {
    const dataDir = join(tmp, "secret");
    const db = `sqlite:${join(dataDir, "porpoise.db")}`;
    let key: string;
    {
      const { p, api } = await startAll(dataDir);
      await using _ = p;
      await api.createProject("default");
      expect((await post(api, "/projects/default/datasources", datasource)).status).toBe(201);

      const file = join(dataDir, "secret-key");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      key = readFileSync(file, "utf8").trim();
      expect(key.length).toBeGreaterThanOrEqual(32);
      const [row] = await rawQuery(db, "SELECT password FROM datasources WHERE name = 'warehouse'");
      const stored = String(row?.password);
      expect(stored).toStartWith("aes-gcm:");
      expect(stored).not.toContain(PASSWORD);
      expect(stored).not.toContain(Buffer.from(PASSWORD).toString("base64").slice(0, 12));
      // The file's key is the key: a store opened with it reads the password back.
      const store = await openStore({ url: db, migrate: false, secretKey: key });
      try {
        expect((await store.datasources.getConnection(1, "warehouse"))?.password).toBe(PASSWORD);
      } finally {
        await store.close();
      }
      expect((await runToEnd(api, query)).state).toBe("SUCCESS");
      p.signal("SIGTERM");
      expect(await p.exit()).toBe(0);
      expect(p.stdout() + p.stderr()).not.toContain(key);
    }
    {
      // Restart on the same directory: same key, the sql task still gets its password.
      const { p, api } = await startAll(dataDir);
      await using _ = p;
      expect(readFileSync(join(dataDir, "secret-key"), "utf8").trim()).toBe(key);
      const again = await runToEnd(api, query);
      expect(again.state).toBe("SUCCESS");
      expect(p.stdout() + p.stderr()).not.toContain(key);
      p.signal("SIGTERM");
      expect(await p.exit()).toBe(0);
    }
    {
      // --secret wins over the file: the stored password was not written with it.
      const { p, api } = await startAll(dataDir, ["--secret", "another-secret-of-the-operator"]);
      await using _ = p;
      const wrong = await runToEnd(api, query);
      expect(wrong.state).toBe("FAILURE");
      expect(wrong.tasks[0]?.message).toContain("cannot decrypt a datasource password: the configured secret key is not the one it was written with");
      p.signal("SIGTERM");
      expect(await p.exit()).toBe(0);
    }
    // No key at all (a store opened without one, as a tool might): it says what is missing.
    const keyless = await openStore({ url: db, migrate: false });
    try {
      await expect(keyless.datasources.getConnection(1, "warehouse")).rejects.toThrow(
        "datasource passwords are encrypted but no secret key is configured",
      );
    } finally {
      await keyless.close();
    }
  });

  test("all with --secret writes no key file and encrypts with the secret", async () => {
    const dataDir = join(tmp, "given-secret");
    const secret = "operator-chosen-secret-0123";
    const { p, api } = await startAll(dataDir, ["--secret", secret]);
    await using _ = p;
    await api.createProject("default");
    expect((await post(api, "/projects/default/datasources", datasource)).status).toBe(201);
    expect(await Bun.file(join(dataDir, "secret-key")).exists()).toBe(false);
    const db = `sqlite:${join(dataDir, "porpoise.db")}`;
    const store = await openStore({ url: db, migrate: false, secretKey: secret });
    try {
      expect((await store.datasources.getConnection(1, "warehouse"))?.password).toBe(PASSWORD);
    } finally {
      await store.close();
    }
    expect(p.stdout() + p.stderr()).not.toContain(secret);
    p.signal("SIGTERM");
    expect(await p.exit()).toBe(0);
  });
});
