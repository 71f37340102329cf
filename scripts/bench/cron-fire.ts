// Schedule firing: 10,000 ONLINE schedules (one workflow each) loaded into the scheduler (one heap, one timer),
// on SQLite and on Postgres; each fires once a minute at second (i mod 60), so ~167 schedules are
// due at the same instant every second, and every fire creates its instance through the Store's
// exactly-once fire. No master runs the instances: this measures the scheduler and the fire
// transaction.
//
// Two latenesses per fire, p50/p99 over every fire in the window:
//   lateness  = when the wake for the instance reached a subscriber (published after COMMIT) − fire
//               time: the fire is durable and the master knows of it — what a user waits for, and
//               the comparison table's `cron` row (issue 10: measured to the commit and the wake).
//   created_at = the instance's created_at − its fire time (scheduleTime): stamped inside the
//               transaction, before its COMMIT (the fire time itself when the rows go in ahead of
//               it), so it says less than the user waits. Always ≤ the above.
// The scheduler fires the schedules of the slots its coordinator holds: the single-node
// coordinator is started (all slots) as `porpoise all` starts it.
// Also the load (scheduler.start with 10,000 schedules) and the process CPU time spent in the window.
//
// Postgres: a fresh database per run (test/helpers/stores.ts), dropped after; unlike test
// databases it keeps synchronous_commit on, as a production server has it.
//
// Also runnable alone: `bun scripts/bench/cron-fire.ts [smoke|full] [sqlite|postgres]`
// (env CRON_FIRE_WINDOW_S shortens the full window while iterating).

import postgres from "postgres";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../src/coordinator/single-node.ts";
import { silentLogger } from "../../src/core/log.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { Scheduler } from "../../src/master/scheduler/scheduler.ts";
import { openStore } from "../../src/store/open.ts";
import type { Dialect, Store } from "../../src/store/store.ts";
import { freshDatabaseUrl, testPostgresUrl } from "../../test/helpers/stores.ts";
import { type BenchRow, type BenchSize, type BenchSystem, compared } from "./bench-types.ts";

export const name = "cron-fire";

const SYSTEM: Record<Dialect, BenchSystem> = { sqlite: "porpoise-sqlite", postgres: "porpoise-postgres" };

/** A fresh store that behaves like a production one (see the file comment). */
async function benchStore(dialect: Dialect): Promise<Store & AsyncDisposable> {
  const target = await freshDatabaseUrl(dialect);
  if (dialect === "postgres") {
    const admin = postgres(testPostgresUrl(), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`ALTER DATABASE "${new URL(target.url).pathname.slice(1)}" SET synchronous_commit = on`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
  const store = await openStore({ url: target.url }).catch(async (err) => {
    await target[Symbol.asyncDispose]();
    throw err;
  });
  return Object.assign(store, {
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await target[Symbol.asyncDispose]();
    },
  });
}

async function measure(dialect: Dialect, size: BenchSize): Promise<BenchRow[]> {
  const full = size === "full";
  const schedules = full ? 10_000 : 20;
  const windowMs = full ? Number(process.env.CRON_FIRE_WINDOW_S ?? 60) * 1000 : 2_500;
  await using store = await benchStore(dialect);
  const bus = new MemoryBus();
  const coordinator = new SingleNodeCoordinator();
  const label = `${dialect}: ${schedules} schedules`;
  try {
    const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, { userId: null, userName: "bench" });
    const actor = { userId: user.id, userName: user.name };
    const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, actor);
    const setupStart = performance.now();
    // One workflow per schedule, as DolphinScheduler users have them: no lock or read is shared.
    // Created 20 at a time (Postgres overlaps the round trips; SQLite serialises them anyway).
    for (let from = 0; from < schedules; from += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, schedules - from) }, async (_, k) => {
          const i = from + k;
          const { workflow } = await store.workflows.create(project.id, parseWorkflowDefinition({ name: `tick-${i}`, tasks: [{ name: "t", type: "noop" }] }), actor);
          // Full: second (i mod 60) of every minute, so fires spread evenly over the minute.
          const cron = full ? `${i % 60} * * * * ?` : "* * * * * ?";
          await store.schedules.create(project.id, workflow.id, { cron, releaseState: "ONLINE" }, actor);
        }),
      );
    }
    const setupMs = performance.now() - setupStart;
    const woken = new Map<number, number>();
    const unsubscribe = await bus.subscribeWakes((msg) => {
      const at = Date.now();
      const ids = "instanceId" in msg ? [msg.instanceId] : "instanceIds" in msg ? msg.instanceIds : [];
      for (const id of ids) woken.set(id, at);
    });
    await coordinator.start();
    // Splits the lateness: how late the scheduler hands a batch to the Store (timer + event loop),
    // per batch, measured against the batch's earliest fire time. Negative: handed over early, with
    // notBefore = the fire time (the Store locks and inserts ahead, then commits at it). And when
    // each batch's transaction had committed (the wakes go out after it).
    const handedOver: number[] = [];
    const resolvedAt: number[] = [];
    let started = Number.POSITIVE_INFINITY;
    const fireMany = store.schedules.fireMany.bind(store.schedules);
    store.schedules.fireMany = (inputs, options) => {
      const first = Math.min(...inputs.map((i) => i.fireTime.getTime()));
      if (first >= started) handedOver.push(Date.now() - first);
      const p = fireMany(inputs, options);
      if (first >= started) void p.then(() => resolvedAt.push(Date.now() - first));
      return p;
    };
    const scheduler = new Scheduler({ store, bus, coordinator, log: silentLogger });
    const loadStart = performance.now();
    await scheduler.start();
    const loadMs = performance.now() - loadStart;
    started = Date.now();
    const cpu0 = process.cpuUsage();
    await Bun.sleep(windowMs);
    const cpu = process.cpuUsage(cpu0);
    await scheduler.stop();
    await coordinator.stop();
    unsubscribe();
    const lateness: number[] = [];
    const committed: number[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = await store.instances.list({ projectId: project.id, limit: 500, offset });
      for (const i of page.items) {
        if (!i.scheduleTime || i.scheduleTime.getTime() < started) continue;
        lateness.push(i.createdAt.getTime() - i.scheduleTime.getTime());
        const at = woken.get(i.id);
        if (at !== undefined) committed.push(at - i.scheduleTime.getTime());
      }
      if (page.items.length < 500) break;
    }
    const row = (metric: string, unit: string, v: { value?: number; samples?: number[] }): BenchRow => ({ scenario: name, metric: `${label}: ${metric}`, unit, ...v });
    return [
      row("create schedules + workflows (setup, not timed by the target)", "ms", { value: setupMs }),
      row("load + catch-up (scheduler.start)", "ms", { value: loadMs }),
      row(`fires in ${windowMs / 1000}s`, "fires", { value: lateness.length }),
      compared("cronLateness", name, SYSTEM[dialect], { samples: committed, note: `${dialect}: ${schedules} schedules, committed + master woken − fire time, ${windowMs / 1000}s window` }),
      row("instance created_at − fire time (stamped before COMMIT)", "ms", { samples: lateness }),
      row("batch handed to the Store − fire time (timer + event loop)", "ms", { samples: handedOver }),
      row("fire batch committed (fireMany resolved) − fire time", "ms", { samples: resolvedAt }),
      row(`process CPU in the ${windowMs / 1000}s window (user + system)`, "ms", { value: (cpu.user + cpu.system) / 1000 }),
    ];
  } finally {
    await bus.close();
  }
}

export async function run(opts: { size: BenchSize; dialects?: Dialect[] }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const dialect of opts.dialects ?? (["sqlite", "postgres"] as const)) rows.push(...(await measure(dialect, opts.size)));
  return rows;
}

if (import.meta.main) {
  const size = (process.argv[2] ?? "smoke") as BenchSize;
  const only = process.argv[3] as Dialect | undefined;
  const { summarize } = await import("./bench-types.ts");
  for (const row of await run({ size, ...(only ? { dialects: [only] } : {}) })) console.log(JSON.stringify(summarize(row)));
}
