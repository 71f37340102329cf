// A master never drives an instance of a slot it does not hold (docs/architecture.md §3.3): a load
// that started under a lease and finishes after the slot was lost again must not leave a driver
// behind. Seen in test/cluster/failover.test.ts a on a loaded box: masters took their own lapsed
// slots again and again; a driver created by such a late load stayed in memory, and when the slot
// came back it was used as it was — without the attempts another master had dispatched meanwhile —
// so their running and done events were refused as stale and acked, and 14 instances stayed
// RUNNING for good.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBus } from "../../../src/bus/memory-bus.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import { startEngine } from "../../../src/modes/engine.ts";
import type { Store } from "../../../src/store/store.ts";
import { FlappingCoordinator } from "../../helpers/flapping-coordinator.ts";
import { freshStore } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";

test("a load that finishes after its slot was lost again leaves no driver; the slot's next lease drives the instance", async () => {
  await using store = await freshStore("sqlite");
  const dataDir = mkdtempSync(join(tmpdir(), "porpoise-flap-"));
  const bus = new MemoryBus();
  const coordinator = new FlappingCoordinator(8);
  await coordinator.start();
  // The window: reading an instance's attempts takes a while (a loaded Postgres).
  let slowReads = 0;
  const slowed: Store = {
    ...store,
    taskInstances: {
      ...store.taskInstances,
      listForInstance: async (id) => {
        if (slowReads > 0) await Bun.sleep(slowReads);
        return store.taskInstances.listForInstance(id);
      },
    },
  };
  const engine = await startEngine({ store: slowed, bus, coordinator, log: silentLogger, dataDir, workerSlots: 2, workerGroups: ["default"], killGraceMs: 200 });
  try {
    const user = await store.users.create({ name: "alice", passwordHash: null, isAdmin: false }, { userId: null, userName: "system" });
    const actor = { userId: user.id, userName: user.name };
    const project = await store.projects.create({ name: "etl", description: "", ownerId: user.id }, actor);
    await store.workflows.create(project.id, parseWorkflowDefinition({ name: "w", tasks: [{ name: "t", type: "shell", script: "sleep 30" }] }), actor);
    const { id } = await engine.client.run({ projectId: project.id, workflowName: "w" }, actor);
    await waitFor("the task to run", async () => (await store.taskInstances.listForInstance(id)).some((t) => t.state === "RUNNING_EXECUTION"), 20_000);
    const slot = coordinator.slotOf(id);

    coordinator.lose([slot]);
    expect(engine.master.drives(id)).toBe(false);
    // Taken again at epoch 2; its load reads the attempts slowly, and the slot goes away meanwhile.
    slowReads = 400;
    coordinator.acquire([slot]);
    await Bun.sleep(50);
    expect(engine.master.drives(id)).toBe(true); // loading
    coordinator.lose([slot]);
    await waitFor("the late load to finish without a driver", async () => !engine.master.drives(id), 5_000);
    // Back at epoch 3: driven again, by a fresh load.
    slowReads = 0;
    coordinator.acquire([slot]);
    await waitFor("the instance driven again", async () => engine.master.drives(id), 5_000);
  } finally {
    await engine.stop(0);
    await bus.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
