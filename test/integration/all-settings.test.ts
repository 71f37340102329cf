// Settings of `porpoise all` that reach the engine, seen from outside: a real process, the
// HTTP API and the files in its data directory.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiClient, createApiClient, type InstanceView } from "../../src/cli/client.ts";
import { isTerminalWorkflowState, type WorkflowState } from "../../src/core/states.ts";
import type { WorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { cleanEnv, fromSource, type Spawned, spawn } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-all-settings-"));
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
  await api.createWorkflow("default", definition as WorkflowDefinition);
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
