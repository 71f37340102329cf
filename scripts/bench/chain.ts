// Edge latency of the whole engine in `porpoise all` shape (master + worker + in-process bus,
// real store): a chain of noop tasks, time from submit to SUCCESS divided by the edges.
// Each edge is: worker result → one group-commit batch (completion + successor insert) →
// bus enqueue → worker pull → row/token check → noop attempt (work dir + log file).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../src/coordinator/single-node.ts";
import { silentLogger } from "../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { startEngine } from "../../src/modes/engine.ts";
import type { Dialect } from "../../src/store/store.ts";
import { freshStore } from "../../test/helpers/stores.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";

export const name = "chain";

async function measure(dialect: Dialect, length: number, runs: number): Promise<BenchRow[]> {
  await using store = await freshStore(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), "porpoise-bench-chain-"));
  const bus = new MemoryBus();
  const coordinator = new SingleNodeCoordinator();
  await coordinator.start();
  const engine = await startEngine({ store, bus, coordinator, log: silentLogger, dataDir, workerSlots: 2, workerGroups: ["default"] });
  try {
    const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, { userId: null, userName: "bench" });
    const actor = { userId: user.id, userName: user.name };
    const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, actor);
    const tasks = Array.from({ length }, (_, i) => ({ name: `t${i}`, type: "noop", deps: i === 0 ? [] : [`t${i - 1}`] }));
    await store.workflows.create(project.id, parseWorkflowDefinition({ name: "chain", tasks }), actor);
    const samples: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const { id } = await engine.client.run({ projectId: project.id, workflowName: "chain" }, actor);
      for (;;) {
        const i = await store.instances.get(id);
        if (i?.state === "SUCCESS") break;
        if (i && ["FAILURE", "STOP"].includes(i.state)) throw new Error(`chain ended ${i.state}`);
        await Bun.sleep(5);
      }
      samples.push((performance.now() - t0) / (length - 1));
    }
    return [{ scenario: name, metric: `${dialect}: ms per edge, chain of ${length} noop`, unit: "ms", samples }];
  } finally {
    await engine.stop(1000);
    await coordinator.stop();
    await bus.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const [length, runs] = opts.size === "smoke" ? [50, 2] : [500, 5];
  return [...(await measure("sqlite", length, runs)), ...(await measure("postgres", length, runs))];
}

if (import.meta.main) {
  for (const row of await run({ size: process.argv.includes("--smoke") ? "smoke" : "full" })) console.log(JSON.stringify(row));
}
