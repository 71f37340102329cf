// How a mode wires retention (modes/retention.ts): the settings reach the sweeps, and what they
// remove is counted in porpoise_retention_removed_total on the registry the mode passes.

import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/core/log.ts";
import { createMetricsRegistry } from "../../src/metrics/registry.ts";
import { Resources } from "../../src/modes/mode.ts";
import { startRetention } from "../../src/modes/retention.ts";
import { freshStore, rawQuery } from "../helpers/stores.ts";
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
