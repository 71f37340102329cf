// An engine (master + worker + client) on a fresh store of one dialect, in-process bus and
// single-node coordinator, with a temp data dir; helpers to save workflows and wait for
// conditions (never fixed sleeps).

import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBus } from "../../../src/bus/memory-bus.ts";
import type { InstanceSnapshotWriter } from "../../../src/cache/instance-snapshot-writer.ts";
import { SingleNodeCoordinator } from "../../../src/coordinator/single-node.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import { startEngine, type Engine } from "../../../src/modes/engine.ts";
import type { RunRequest } from "../../../src/api/engine-client.ts";
import type { Actor, Dialect, TaskInstance, WorkflowInstance } from "../../../src/store/store.ts";
import { freshStore, type TestStore } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";

/**
 * Creates `dir/name` holding `content` atomically (write aside, then rename): a task polling for
 * the file must never see it existing but still empty — `exit $(cat file)` would then exit 0.
 */
export function writeGate(dir: string, name: string, content: string): void {
  const aside = join(dir, `.${name}.tmp`);
  writeFileSync(aside, content);
  renameSync(aside, join(dir, name));
}

export interface Harness extends AsyncDisposable {
  store: TestStore;
  engine: Engine;
  bus: MemoryBus;
  /** Stops the engine (running attempts get `deadlineMs`, then are killed unreported, as on a shutdown) and starts a new one on the same store. */
  restart(deadlineMs?: number): Promise<Engine>;
  actor: Actor;
  projectId: number;
  dataDir: string;
  save(definition: Record<string, unknown>): Promise<void>;
  run(name: string, req?: Partial<RunRequest>): Promise<number>;
  waitState(id: number, states: string[], timeoutMs?: number): Promise<WorkflowInstance>;
  waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs?: number): Promise<T>;
  tasks(id: number): Promise<TaskInstance[]>;
  latest(id: number, task: string): Promise<TaskInstance | undefined>;
}

export async function harness(dialect: Dialect, opts: { workerSlots?: number; workerGroups?: string[]; snapshots?: InstanceSnapshotWriter } = {}): Promise<Harness> {
  const store = await freshStore(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), "porpoise-engine-"));
  const bus = new MemoryBus();
  const coordinator = new SingleNodeCoordinator({ slotCount: 8 });
  await coordinator.start();
  const start = () =>
    startEngine({
      store,
      bus,
      coordinator,
      log: silentLogger,
      dataDir,
      workerSlots: opts.workerSlots ?? 8,
      workerGroups: opts.workerGroups ?? ["default", "special"],
      killGraceMs: 500,
      ...(opts.snapshots ? { snapshots: opts.snapshots } : {}),
    });
  let engine = await start();
  const user = await store.users.create({ name: "alice", passwordHash: null, isAdmin: false }, { userId: null, userName: "system" });
  const actor: Actor = { userId: user.id, userName: user.name };
  const project = await store.projects.create({ name: "etl", description: "", ownerId: user.id }, actor);

  const h: Harness = {
    store,
    get engine() {
      return engine;
    },
    bus,
    async restart(deadlineMs = 0) {
      await engine.stop(deadlineMs);
      engine = await start();
      return engine;
    },
    actor,
    projectId: project.id,
    dataDir,
    async save(definition) {
      const parsed = parseWorkflowDefinition(definition);
      const existing = await store.workflows.get(project.id, parsed.name);
      if (existing) await store.workflows.addVersion(project.id, parsed.name, parsed, actor);
      else await store.workflows.create(project.id, parsed, actor);
    },
    async run(name, req = {}) {
      const { id } = await engine.client.run({ projectId: project.id, workflowName: name, ...req }, actor);
      return id;
    },
    async waitState(id, states, timeoutMs) {
      return waitFor(`instance ${id} to reach ${states.join("/")}`, async () => {
        const i = await store.instances.get(id);
        return i && states.includes(i.state) ? i : null;
      }, timeoutMs);
    },
    waitFor,
    tasks: (id) => store.taskInstances.listForInstance(id),
    async latest(id, task) {
      return (await store.taskInstances.listForInstance(id)).filter((t) => t.taskName === task).at(-1);
    },
    async [Symbol.asyncDispose]() {
      await engine.stop(2000);
      await coordinator.stop();
      await bus.close();
      await store[Symbol.asyncDispose]();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}
