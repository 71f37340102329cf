// Retention in a real `porpoise all` process (issue 11): with --retention-age 3s (time for the test
// to see the run end on a loaded box) and --retention-interval 1s, a finished run is removed by the
// background sweeps — its row (the API answers 404) and its log directory and work dir on disk —
// and a line in the log says so.

import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiClient } from "../../src/cli/client.ts";
import type { WorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { waitFor } from "../helpers/wait.ts";
import { cleanEnv, fromSource, spawn } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-retention-"));
chmodSync(tmp, 0o711); // task users (nobody, as root) enter the work dir beside the data dir
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const TOKEN = "retention-process-token-0123456789abcdefgh";

test("porpoise all --retention-age 3s removes a finished run's row, log and work dir in the background", async () => {
  const dataDir = join(tmp, "data");
  const p = spawn(fromSource(["all", "--port", "0", "--data-dir", dataDir, "--retention-age", "3s", "--retention-interval", "1s"]), {
    cwd: tmp,
    env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN }),
  });
  await using _ = p;
  const [, url] = await p.waitFor(/porpoise all ready on (http:\/\/127\.0\.0\.1:\d+)/);
  const api = createApiClient({ baseUrl: url as string, token: TOKEN });
  await api.createProject("default");
  await api.createWorkflow("default", { name: "brief", tasks: [{ name: "say", type: "shell", script: "echo kept-for-a-second" }] } as unknown as WorkflowDefinition);
  const { id } = await api.run("default", "brief", {});
  const ended = await waitFor("the run to succeed", async () => {
    const v = await api.instance(id);
    return v.state === "SUCCESS" ? v : null;
  });
  expect(ended.tasks).toHaveLength(1);
  expect(existsSync(join(dataDir, "logs", String(id)))).toBe(true);
  await p.waitFor(/retention: removed 1 finished workflow instance/, 20_000);
  await waitFor("the files to go", async () => !existsSync(join(dataDir, "logs", String(id))) && !existsSync(join(`${dataDir}-work`, String(id))), 20_000);
  await expect(api.instance(id)).rejects.toThrow(/404|not found|does not exist/i);
  p.signal("SIGTERM");
  expect(await p.exit()).toBe(0);
}, 60_000);
