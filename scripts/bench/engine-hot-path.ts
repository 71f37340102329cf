// The `porpoise all` hot path in-process (master + worker + in-process bus + real store, the
// shape `porpoise all` runs; no HTTP): issue 5's three engine figures on both dialects.
//
//   chain-40    edge = a task's result reported → its successor's result reported, averaged
//               over the 39 edges (each edge: group commit of the completion + successor
//               insert, bus enqueue, worker pull, row/token check, noop)
//   trigger     engine.client.run → first (only) task's result reported, 1,000 runs one at a time
//               (a noop's "done" is the first report it makes, so this bounds trigger → running)
//   throughput  200 workflows × 100 independent noop tasks triggered at once → every run SUCCESS
//
// Besides wall clock (noisy: 2 shared cores) every row has a CPU-time twin from
// process.cpuUsage() (user + system of this process, which is the whole engine), per task:
// that figure is stable under load from other processes and is what the commits compare.
//
// --fence (Postgres): the store fences every master write by the slot lease (store.fenceWith,
// src/store/lease-fence.ts), with lease rows for every slot written as the cluster's coordinator
// would hold them: the rows say "postgres fenced", to compare with the unfenced ones.
//
// --metrics: the engine counts into a metrics registry as `porpoise all` does (src/metrics/):
// the rows say "+metrics", to compare with the rows without (README Performance: the cost).
//
//   bun scripts/bench/engine-hot-path.ts [--smoke] [--only chain,trigger,throughput] [--dialect sqlite|postgres] [--fence] [--metrics]

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../src/coordinator/single-node.ts";
import { silentLogger } from "../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { type Engine, startEngine } from "../../src/modes/engine.ts";
import { createMetricsRegistry } from "../../src/metrics/registry.ts";
import type { TaskEvent } from "../../src/core/messages.ts";
import type { Actor, Dialect, Store } from "../../src/store/store.ts";
import { freshStore, rawQuery } from "../../test/helpers/stores.ts";
import type { BenchRow, BenchSize } from "./bench-types.ts";

export const name = "engine-hot-path";

interface Rig {
  store: Store;
  engine: Engine;
  projectId: number;
  actor: Actor;
  /** performance.now() of each "done" report, by workflow instance. */
  onDone: ((e: TaskEvent, at: number) => void) | null;
}

async function withRig<T>(dialect: Dialect, fn: (rig: Rig) => Promise<T>, fence = false, metrics = false): Promise<T> {
  await using store = await freshStore(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), "porpoise-bench-engine-"));
  const bus = new MemoryBus();
  const coordinator = new SingleNodeCoordinator();
  await coordinator.start();
  if (fence && dialect === "postgres") {
    const slots = coordinator.ownedSlots();
    await rawQuery(
      store.url,
      `INSERT INTO slot_leases (slot, owner, epoch, expires_at) SELECT s, $2, $3, now() + interval '1 day' FROM unnest($1::int[]) AS s
       ON CONFLICT (slot) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at`,
      [`{${slots.join(",")}}`, coordinator.nodeId, coordinator.lease(slots[0]!)!.epoch],
    );
    store.fenceWith(coordinator.nodeId);
  }
  // The master gets the workers' reports from the bus's slot streams: a wrapped handler sees each "done" first.
  let hook: Rig["onDone"] = null;
  const consume = bus.consumeEvents.bind(bus);
  bus.consumeEvents = (consumer, handler) =>
    consume(consumer, (events) => {
      const at = performance.now();
      for (const d of events) if (d.event.kind === "done") hook?.(d.event, at);
      handler(events);
    });
  // Worker slots as `porpoise all` defaults them: one per CPU.
  const engine = await startEngine({ store, bus, coordinator, log: silentLogger, dataDir, workerSlots: Math.max(1, cpus().length), workerGroups: ["default"], ...(metrics ? { metrics: createMetricsRegistry() } : {}) });
  const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, { userId: null, userName: "bench" });
  const actor = { userId: user.id, userName: user.name };
  const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, actor);
  const rig: Rig = { store, engine, projectId: project.id, actor, onDone: null };
  hook = (e, at) => rig.onDone?.(e, at);
  try {
    return await fn(rig);
  } finally {
    await engine.stop(1000);
    await coordinator.stop();
    await bus.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function waitEnded(store: Store, ids: readonly number[]): Promise<void> {
  for (const id of ids) {
    for (;;) {
      const i = await store.instances.get(id);
      if (i?.state === "SUCCESS") break;
      if (i && ["FAILURE", "STOP", "PAUSE"].includes(i.state)) throw new Error(`workflow instance ${id} ended ${i.state}`);
      // Not faster: each poll is a store read, and its CPU would count against the engine's.
      await Bun.sleep(20);
    }
  }
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function chain(rig: Rig, dialect: string, runs: number): Promise<BenchRow[]> {
  const length = 40;
  const tasks = Array.from({ length }, (_, i) => ({ name: `t${i}`, type: "noop", deps: i === 0 ? [] : [`t${i - 1}`] }));
  await rig.store.workflows.create(rig.projectId, parseWorkflowDefinition({ name: "chain40", tasks }), rig.actor);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs + 1; r++) {
    const times: number[] = [];
    rig.onDone = (_e, at) => void times.push(at);
    const c0 = cpuMs();
    const { id } = await rig.engine.client.run({ projectId: rig.projectId, workflowName: "chain40" }, rig.actor);
    await waitEnded(rig.store, [id]);
    const c1 = cpuMs();
    if (r === 0) continue; // warm-up
    wall.push((times.at(-1)! - times[0]!) / (length - 1));
    cpu.push((c1 - c0) / length);
  }
  rig.onDone = null;
  return [
    { scenario: name, metric: `${dialect}: chain-40 ms per edge (done → successor done)`, unit: "ms", samples: wall },
    { scenario: name, metric: `${dialect}: chain-40 CPU ms per task (process)`, unit: "ms", samples: cpu },
  ];
}

async function trigger(rig: Rig, dialect: string, count: number): Promise<BenchRow[]> {
  await rig.store.workflows.create(rig.projectId, parseWorkflowDefinition({ name: "single", tasks: [{ name: "only", type: "noop" }] }), rig.actor);
  const samples: number[] = [];
  const c0 = cpuMs();
  for (let i = 0; i < count; i++) {
    let doneAt = 0;
    const reported = new Promise<void>((resolve) => {
      rig.onDone = (_e, at) => {
        doneAt = at;
        resolve();
      };
    });
    const t0 = performance.now();
    await rig.engine.client.run({ projectId: rig.projectId, workflowName: "single" }, rig.actor);
    await reported;
    samples.push(doneAt - t0);
  }
  const cpu = (cpuMs() - c0) / count;
  rig.onDone = null;
  return [
    { scenario: name, metric: `${dialect}: trigger → first task done`, unit: "ms", samples },
    { scenario: name, metric: `${dialect}: trigger CPU ms per run (process)`, unit: "ms", value: cpu },
  ];
}

async function throughput(rig: Rig, dialect: string, workflows: number, width: number): Promise<BenchRow[]> {
  const tasks = Array.from({ length: width }, (_, i) => ({ name: `t${i}`, type: "noop" }));
  await rig.store.workflows.create(rig.projectId, parseWorkflowDefinition({ name: "wide", tasks }), rig.actor);
  let done = 0;
  let lastDone = 0;
  rig.onDone = (_e, at) => {
    done++;
    lastDone = at;
  };
  const c0 = cpuMs();
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: workflows }, () => rig.engine.client.run({ projectId: rig.projectId, workflowName: "wide" }, rig.actor).then((r) => r.id)));
  await waitEnded(rig.store, ids);
  const t1 = performance.now();
  const cpu = cpuMs() - c0;
  rig.onDone = null;
  const total = workflows * width;
  if (done !== total) throw new Error(`throughput: ${done} done reports for ${total} tasks`);
  return [
    { scenario: name, metric: `${dialect}: throughput ${workflows}×${width} noop, tasks/s (trigger → all runs SUCCESS)`, unit: "tasks/s", value: total / ((t1 - t0) / 1000) },
    { scenario: name, metric: `${dialect}: throughput tasks/s until the last result reported`, unit: "tasks/s", value: total / ((lastDone - t0) / 1000) },
    { scenario: name, metric: `${dialect}: throughput CPU µs per task (process)`, unit: "µs", value: (cpu * 1000) / total },
  ];
}

export async function run(opts: { size: BenchSize; only?: string[]; dialects?: Dialect[]; fence?: boolean; metrics?: boolean }): Promise<BenchRow[]> {
  const smoke = opts.size === "smoke";
  const only = opts.only ?? ["chain", "trigger", "throughput"];
  const rows: BenchRow[] = [];
  for (const dialect of opts.dialects ?? (["sqlite", "postgres"] as Dialect[])) {
    const fence = opts.fence === true && dialect === "postgres";
    // The metric names carry the mode; the scenario functions only print it.
    const m = opts.metrics === true;
    const label = (fence ? "postgres fenced" : dialect) + (m ? " +metrics" : "");
    // One engine per scenario: a scenario's leftovers (rows, caches) must not weigh on the next.
    if (only.includes("chain")) rows.push(...(await withRig(dialect, (rig) => chain(rig, label, smoke ? 2 : 10), fence, m)));
    if (only.includes("trigger")) rows.push(...(await withRig(dialect, (rig) => trigger(rig, label, smoke ? 20 : 1000), fence, m)));
    if (only.includes("throughput")) rows.push(...(await withRig(dialect, (rig) => throughput(rig, label, smoke ? 10 : 200, smoke ? 10 : 100), fence, m)));
  }
  return rows;
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const arg = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = arg("--only")?.split(",");
  const dialect = arg("--dialect") as Dialect | undefined;
  const { summarize } = await import("./bench-types.ts");
  for (const row of await run({ size: argv.includes("--smoke") ? "smoke" : "full", only, dialects: dialect ? [dialect] : undefined, fence: argv.includes("--fence"), metrics: argv.includes("--metrics") })) {
    const s = summarize(row);
    console.log(`${s.metric}: median ${s.median.toFixed(3)} ${s.unit}${s.p95 !== undefined ? `, p95 ${s.p95.toFixed(3)}` : ""}${s.p99 !== undefined ? `, p99 ${s.p99.toFixed(3)}` : ""} (min ${s.min.toFixed(3)}, max ${s.max.toFixed(3)}, n=${s.runs})`);
  }
}
