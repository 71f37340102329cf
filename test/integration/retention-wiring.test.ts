// How a mode wires retention (modes/retention.ts): the settings reach the sweeps, and what they
// remove is counted in porpoise_retention_removed_total on the registry the mode passes. And the
// row sweep's protection of the workflows that running dependent tasks read (both dialects).

import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/core/log.ts";
import { createMetricsRegistry } from "../../src/metrics/registry.ts";
import { Resources } from "../../src/modes/mode.ts";
import { startRetention } from "../../src/modes/retention.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { RetentionSweep } from "../../src/master/retention-sweep.ts";
import { dialects, freshStore, rawQuery } from "../helpers/stores.ts";
import { definition, userWithProject } from "./store/fixtures.ts";

test("a mode's sweeps follow its settings and count what they remove", async () => {
  await using store = await freshStore("sqlite");
  const dir = mkdtempSync(join(tmpdir(), "porpoise-retention-wiring-"));
  await using _rm = { [Symbol.asyncDispose]: async () => rmSync(dir, { recursive: true, force: true }) };
  const inv = resolveConfig({ argv: ["all", "--data-dir", dir, "--retention-age", "1d", "--retention-interval", "1h"], env: {}, readFile: () => "" });
  if (!("config" in inv)) throw new Error("no config");
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
  const wi = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
  const ended = Date.now() - 2 * 86_400_000;
  await rawQuery(store.url, "UPDATE workflow_instances SET state = 'SUCCESS', end_time = ?, updated_at = ? WHERE id = ?", [ended, ended, wi.id]);
  mkdirSync(join(dir, "logs", String(wi.id)), { recursive: true });
  mkdirSync(join(inv.config.workDir, String(wi.id)), { recursive: true });
  await using _rmWork = { [Symbol.asyncDispose]: async () => rmSync(inv.config.workDir, { recursive: true, force: true }) };

  const metrics = createMetricsRegistry();
  const resources = new Resources(silentLogger);
  const sweeps = startRetention({ config: inv.config, log: silentLogger, store, resources, files: true, ownedSlots: () => null, metrics });
  try {
    expect(await sweeps.rows!.runOnce()).toBe(1);
    expect(await sweeps.files!.runOnce()).toEqual({ logDirs: 1, workDirs: 1 });
    const text = await metrics.render();
    expect(text).toContain('porpoise_retention_removed_total{what="instances"} 1');
    expect(text).toContain('porpoise_retention_removed_total{what="log_dirs"} 1');
    expect(text).toContain('porpoise_retention_removed_total{what="work_dirs"} 1');
  } finally {
    await resources.closeAll();
  }
});

describe.each(dialects)("the row sweep and dependent tasks (%s)", (dialect) => {
  test("while a dependent task runs, the instances of the workflows it reads stay (another project's too); then they go", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const other = await userWithProject(store, { user: "bob", project: "finance" });
    const { workflow: daily } = await store.workflows.create(project.id, definition("daily"), actor);
    const { workflow: ledger } = await store.workflows.create(other.project.id, definition("ledger"), other.actor);
    const { workflow: unrelated } = await store.workflows.create(project.id, definition("unrelated"), actor);
    const waiter = parseWorkflowDefinition({
      name: "waiter",
      tasks: [
        {
          name: "wait",
          type: "dependent",
          dependOn: [
            { workflow: "daily", cycle: "day", dateValue: "today" },
            { project: "finance", workflow: "ledger", cycle: "day", dateValue: "today" },
          ],
        },
      ],
    });
    const { workflow: waiterWf } = await store.workflows.create(project.id, waiter, actor);
    const ended = dialect === "sqlite" ? Date.now() - 40 * 86_400_000 : new Date(Date.now() - 40 * 86_400_000).toISOString();
    const finishedRun = async (workflowId: number) => {
      const wi = await store.instances.create({ workflowId, slot: 0, runType: "START_PROCESS" });
      await rawQuery(store.url, dialect === "sqlite" ? "UPDATE workflow_instances SET state = 'SUCCESS', end_time = ? WHERE id = ?" : "UPDATE workflow_instances SET state = 'SUCCESS', end_time = $1::timestamptz WHERE id = $2", [ended, wi.id]);
      return wi.id;
    };
    const old = { daily: await finishedRun(daily.id), ledger: await finishedRun(ledger.id), unrelated: await finishedRun(unrelated.id) };
    const running = await store.instances.create({ workflowId: waiterWf.id, slot: 0, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
    const [attempt] = await store.taskInstances.applyBatch([
      { op: "insert", workflowInstanceId: running.id, taskName: "wait", taskType: "dependent", attempt: 1, state: "RUNNING_EXECUTION", dispatchToken: "d", slot: 0, epoch: 0, params: {} },
    ]);
    if (attempt?.outcome !== "applied") throw new Error("attempt not inserted");
    const removed: number[] = [];
    const sweep = new RetentionSweep({
      store,
      log: silentLogger,
      rules: { maxAgeMs: 30 * 86_400_000, keepPerWorkflow: null, intervalMs: 60_000 },
      ownedSlots: () => null,
      onRemoved: (batch) => removed.push(...batch.map((r) => r.id)),
    });
    expect(await sweep.runOnce()).toBe(1);
    expect(removed).toEqual([old.unrelated]);
    await store.taskInstances.applyBatch([{ op: "update", id: attempt.id, attempt: 1, token: "d", from: ["RUNNING_EXECUTION"], to: "SUCCESS", set: { endTime: new Date() } }]);
    expect(await sweep.runOnce()).toBe(2);
    expect(removed.sort((a, b) => a - b)).toEqual([old.daily, old.ledger, old.unrelated].sort((a, b) => a - b));
  }, 30_000);
});
