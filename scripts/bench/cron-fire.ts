// Schedule firing: 10,000 ONLINE schedules (one workflow each) loaded into the scheduler (one heap, one timer) on a
// SQLite store; each fires once a minute at its own second, spread over the window, and every
// fire creates its instance through the Store's exactly-once fire. Lateness = the instance's
// created_at − its fire time (scheduleTime), p50/p99 over all fires in the window. No master
// runs the instances: this measures the scheduler and the fire transaction.
//
// Also runnable alone: `bun scripts/bench/cron-fire.ts [smoke|full]`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../src/coordinator/single-node.ts";
import { silentLogger } from "../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { Scheduler } from "../../src/master/scheduler/scheduler.ts";
import { openStore } from "../../src/store/open.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";

export const name = "cron-fire";

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const schedules = full ? 10_000 : 20;
  const windowMs = full ? 60_000 : 2_500;
  const dir = mkdtempSync(join(tmpdir(), "porpoise-bench-cron-fire-"));
  const store = await openStore({ url: `sqlite:${join(dir, "bench.db")}` });
  const bus = new MemoryBus();
  const coordinator = new SingleNodeCoordinator();
  try {
    const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, { userId: null, userName: "bench" });
    const actor = { userId: user.id, userName: user.name };
    const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, actor);
    for (let i = 0; i < schedules; i++) {
      // One workflow per schedule, as DolphinScheduler users have them: no lock or read is shared.
      const { workflow } = await store.workflows.create(project.id, parseWorkflowDefinition({ name: `tick-${i}`, tasks: [{ name: "t", type: "noop" }] }), actor);
      // Full: second (i mod 60) of every minute, so fires spread evenly over the minute.
      const cron = full ? `${i % 60} * * * * ?` : "* * * * * ?";
      await store.schedules.create(project.id, workflow.id, { cron, releaseState: "ONLINE" }, actor);
    }
    const scheduler = new Scheduler({ store, bus, coordinator, log: silentLogger });
    const loadStart = performance.now();
    await scheduler.start();
    const loadMs = performance.now() - loadStart;
    const started = Date.now();
    await Bun.sleep(windowMs);
    await scheduler.stop();
    const lateness: number[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = await store.instances.list({ projectId: project.id, limit: 500, offset });
      for (const i of page.items) if (i.scheduleTime && i.scheduleTime.getTime() >= started) lateness.push(i.createdAt.getTime() - i.scheduleTime.getTime());
      if (page.items.length < 500) break;
    }
    return [
      { scenario: name, metric: `${schedules} schedules: load + first fires (start)`, unit: "ms", value: loadMs },
      { scenario: name, metric: `${schedules} schedules: fires in ${windowMs / 1000}s`, unit: "fires", value: lateness.length },
      { scenario: name, metric: `${schedules} schedules: lateness (created − fire time)`, unit: "ms", samples: lateness },
    ];
  } finally {
    await bus.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const size = (process.argv[2] ?? "smoke") as BenchSize;
  const { summarize } = await import("./bench-types.ts");
  for (const row of await run({ size })) console.log(JSON.stringify(summarize(row)));
}
