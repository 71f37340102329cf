// Retention end to end on a real engine (issue 11), both dialects: DELETE /workflow-instances/:id
// removes a finished run (audited; a running one is refused naming its state, a developer is
// refused), the background sweep removes runs past the age, and the file sweep then removes the
// runs' log files and work dirs on disk — and leaves those of a running instance alone.

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "../../../src/core/log.ts";
import { RetentionSweep } from "../../../src/master/retention-sweep.ts";
import { FileSweep } from "../../../src/worker/file-sweep.ts";
import { dialects, rawQuery } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const flow = (name: string, script: string) => ({ name, tasks: [{ name: "work", type: "shell", script }] });

async function runToEnd(h: Harness, workflow: string): Promise<number> {
  const { id } = (await h.call("POST", `/api/v1/projects/ops/workflows/${workflow}/run`, { body: {} })).json;
  await h.waitFor(`instance ${id} to end`, async () => ["SUCCESS", "FAILURE"].includes((await h.call("GET", `/api/v1/workflow-instances/${id}`)).json.state));
  return id;
}

const logDir = (h: Harness, id: number) => join(h.dataDir, "logs", String(id));
const workDir = (h: Harness, id: number) => join(h.dataDir, "work", String(id));

describe.each(dialects)("retention on a running engine (%s)", (dialect) => {
  test("DELETE a finished instance; refuse a running one; sweeps remove old runs and then their files", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await h.call("POST", "/api/v1/projects", { body: { name: "ops" } });
    await h.call("POST", "/api/v1/projects/ops/workflows", { body: flow("quick", "echo quick > out.txt; echo done") });
    await h.call("POST", "/api/v1/projects/ops/workflows", { body: flow("slow", "sleep 30") });
    const a = await runToEnd(h, "quick");
    const b = await runToEnd(h, "quick");
    const c = await runToEnd(h, "quick");
    const slow = (await h.call("POST", "/api/v1/projects/ops/workflows/slow/run", { body: {} })).json.id as number;
    await h.waitFor("the slow task to run", async () => (await h.call("GET", `/api/v1/workflow-instances/${slow}`)).json.tasks?.[0]?.state === "RUNNING_EXECUTION");
    for (const id of [a, b, c, slow]) expect(existsSync(logDir(h, id))).toBe(true);
    expect(existsSync(join(workDir(h, a)))).toBe(true);

    // DELETE: running refused naming its state, a developer refused, the owner (admin) deletes.
    expectError(await h.call("DELETE", `/api/v1/workflow-instances/${slow}`), 409, "CONFLICT", `workflow instance ${slow} is RUNNING_EXECUTION`);
    const dev = await h.user("dev");
    await h.call("POST", "/api/v1/projects/ops/members", { body: { user: "dev", role: "developer" } });
    expectError(await h.call("DELETE", `/api/v1/workflow-instances/${a}`, { token: dev.token }), 403, "FORBIDDEN");
    expect((await h.call("DELETE", `/api/v1/workflow-instances/${a}`)).status).toBe(204);
    expectError(await h.call("GET", `/api/v1/workflow-instances/${a}`), 404, "NOT_FOUND");
    expectError(await h.call("DELETE", `/api/v1/workflow-instances/${a}`), 404, "NOT_FOUND");
    // Its files were this engine's worker's: gone at once.
    expect(existsSync(logDir(h, a))).toBe(false);
    expect(existsSync(workDir(h, a))).toBe(false);
    const audit = (await h.call("GET", "/api/v1/audit?limit=100")).json.items.find((e: { action: string }) => e.action === "workflow-instance.delete");
    expect(audit).toMatchObject({ actorName: "admin", objectId: String(a) });

    // The row sweep: b ended 40 days ago by its row, c is recent, slow runs.
    const old = new Date(Date.now() - 40 * 86_400_000);
    await rawQuery(
      h.store.url,
      dialect === "sqlite" ? "UPDATE workflow_instances SET end_time = ? WHERE id = ?" : "UPDATE workflow_instances SET end_time = $1::timestamptz WHERE id = $2",
      dialect === "sqlite" ? [old.getTime(), b] : [old.toISOString(), b],
    );
    const removed: number[] = [];
    const rows = new RetentionSweep({
      store: h.store,
      log: silentLogger,
      rules: { maxAgeMs: 30 * 86_400_000, keepPerWorkflow: null, intervalMs: 60_000 },
      ownedSlots: () => null,
      onRemoved: (batch) => removed.push(...batch.map((r) => r.id)),
    });
    expect(await rows.runOnce()).toBe(1);
    expect(removed).toEqual([b]);
    expect(rows.stats()).toMatchObject({ runs: 1, removed: 1, errors: 0 });
    expectError(await h.call("GET", `/api/v1/workflow-instances/${b}`), 404, "NOT_FOUND");
    expect((await h.call("GET", `/api/v1/workflow-instances/${c}`)).status).toBe(200);

    // The file sweep: the files of b go; c keeps its log, and its work dir until it is older than the work-dir retention.
    const files = new FileSweep({ store: h.store, log: silentLogger, dataDir: h.dataDir, workDir: join(h.dataDir, "work"), workDirMaxAgeMs: 86_400_000, intervalMs: 60_000 });
    expect(await files.runOnce()).toEqual({ logDirs: 1, workDirs: 1 });
    for (const id of [a, b]) {
      expect(existsSync(logDir(h, id))).toBe(false);
      expect(existsSync(workDir(h, id))).toBe(false);
    }
    for (const id of [c, slow]) expect(existsSync(logDir(h, id))).toBe(true);
    expect(existsSync(workDir(h, c))).toBe(true);
    const later = new FileSweep({ store: h.store, log: silentLogger, dataDir: h.dataDir, workDir: join(h.dataDir, "work"), workDirMaxAgeMs: 86_400_000, intervalMs: 60_000, now: () => Date.now() + 2 * 86_400_000 });
    expect(await later.runOnce()).toEqual({ logDirs: 0, workDirs: 1 });
    expect(existsSync(workDir(h, c))).toBe(false);
    expect(existsSync(logDir(h, c))).toBe(true);
    expect(existsSync(workDir(h, slow))).toBe(true);
    expect((await h.call("GET", `/api/v1/workflow-instances/${c}`)).json.state).toBe("SUCCESS");
    await h.call("POST", `/api/v1/workflow-instances/${slow}/stop`);
  }, 60_000);
});
