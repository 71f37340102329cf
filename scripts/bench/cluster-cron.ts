// Schedule firing in the cluster (issue 10: "p99 ≤ 10 ms, also with 3 masters"): 10,000 ONLINE
// schedules (one workflow of one noop task each), each firing once a minute at second (i mod 60),
// so ~167 fire at each second, on 1 api + 3 masters + 1 worker processes on Postgres + Redis
// (porpoise-cluster.ts, production lease 10 s). Each master fires the schedules of the slots it
// holds (slotOf(scheduleId)) and wakes the master of each new run's slot over Redis.
//
// The figure is the same as cron-fire.ts's: fire time → the run committed and its master woken.
// "Woken" is when the wake reached a subscriber on the cluster's Redis (this process, subscribed
// like every master; pub/sub reaches them at the same time), so the commit, the firing master's
// publish and Redis are all in it. The wakes' clock is this machine's, as the nodes' is.
//
// The schedules go into the database before the nodes start (a Store on a fresh database), so the
// masters load them at start; the window opens once the three masters hold a fair share of the
// slots each (rebalancing moves schedules between them, with their fires) and the cluster has
// caught up with the start-up backlog (see run; how long that took is a row of its own).
//
// Also runnable alone: `bun scripts/bench/cluster-cron.ts [smoke|full]` (env CRON_FIRE_WINDOW_S
// shortens the full window; PORPOISE_BENCH_PROFILE=<dir> writes each node's CPU profile there; CLUSTER_CRON_DEBUG=1 prints each second's lateness and created_at
// spread and the masters' warnings, which is how the tail was split into late starts and slow commits).

import { loadavg } from "node:os";
import postgres from "postgres";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import { CLUSTER_SECRET, startCluster } from "../../test/cluster/cluster-harness.ts";
import { freshDatabaseUrl } from "../../test/helpers/stores.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { type BenchRow, type BenchSize, compared } from "./bench-types.ts";
import { clusterNodes } from "./porpoise-cluster.ts";
import { FROM_SOURCE } from "./porpoise-server.ts";

export const name = "cluster-cron";
const MASTERS = 3;
/** The cluster's slot count (config default). */
const SLOTS = 64;
/** Caught up (see run): this many whole seconds in a row on time … */
const CAUGHT_UP_SECONDS = 5;
/** … each fire committed within this of its fire time … */
const CAUGHT_UP_MS = 100;
/** … waited for at most this long. */
const MAX_CATCH_UP_MS = 120_000;

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const schedules = full ? 10_000 : 60;
  const windowMs = full ? Number(process.env.CRON_FIRE_WINDOW_S ?? 60) * 1000 : 5_000;
  await using db = await freshDatabaseUrl("postgres");
  const setupStart = performance.now();
  {
    const store = await openStore({ url: db.url });
    try {
      const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, { userId: null, userName: "bench" });
      const actor = { userId: user.id, userName: user.name };
      const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, actor);
      for (let from = 0; from < schedules; from += 20) {
        await Promise.all(
          Array.from({ length: Math.min(20, schedules - from) }, async (_, k) => {
            const i = from + k;
            const { workflow } = await store.workflows.create(project.id, parseWorkflowDefinition({ name: `tick-${i}`, tasks: [{ name: "t", type: "noop" }] }), actor);
            await store.schedules.create(project.id, workflow.id, { cron: `${i % 60} * * * * ?`, releaseState: "ONLINE" }, actor);
          }),
        );
      }
    } finally {
      await store.close();
    }
  }
  const setupMs = performance.now() - setupStart;
  await using cluster = await startCluster({ prefix: "porpoise-bench-cron-", masters: MASTERS, workers: 1, lease: 10, workerSlots: 8, dbUrl: db.url, command: (args) => [...FROM_SOURCE, ...args] });
  const ids = cluster.masters.map((m) => m.id);
  let last = "";
  await waitFor(
    "every master holds its share of the slots",
    async () => {
      const leases = (await cluster.store.cluster.slotLeases()).filter((l) => l.expiresInMs !== null && l.expiresInMs > 0);
      const counts = ids.map((id) => leases.filter((l) => l.owner === id).length);
      last = counts.join("/");
      return counts.every((n) => n > 0 && n <= Math.ceil(SLOTS / MASTERS)) && counts.reduce((a, b) => a + b, 0) === SLOTS;
    },
    120_000,
    200,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (slots held: ${last})`);
  });
  const bus = new RedisBus({ url: cluster.redis.url, secret: CLUSTER_SECRET });
  const woken = new Map<number, number>();
  const unsubscribe = await bus.subscribeWakes((msg) => {
    const at = Date.now();
    const ids = "instanceId" in msg ? [msg.instanceId] : "instanceIds" in msg ? msg.instanceIds : [];
    for (const id of ids) if (!woken.has(id)) woken.set(id, at);
  });
  // The window opens once the cluster has caught up, at the next whole second: the first seconds
  // after the masters took their slots (loading them, the runs of the fires missed while the
  // cluster started, code not yet compiled by the JIT) are a start-up transient, not the steady
  // state the figure is about. Measured: 1-5 s late at first, draining in 5-30 s (more on a loaded
  // machine), so a fixed warm-up of 10 s put a varying share of the transient into the figure.
  // Caught up: CAUGHT_UP_SECONDS whole seconds in a row whose fires all committed within
  // CAUGHT_UP_MS of their fire time, and every run fired before them ended. How long that took is
  // reported on its own row; after MAX_CATCH_UP_MS the window opens anyway and the row says so.
  const catchUpFrom = performance.now();
  const caughtUp = await waitCaughtUp(db.url, schedules);
  const catchUpMs = performance.now() - catchUpFrom;
  const started = Math.ceil((Date.now() + 1) / 1000) * 1000;
  await Bun.sleep(started - Date.now() + windowMs);
  unsubscribe();
  if (process.env.PORPOISE_BENCH_PROFILE) {
    // A profile is written at a clean exit only (porpoise-server.ts): the nodes get a SIGTERM first.
    for (const n of clusterNodes(cluster)) n.proc.signal("SIGTERM");
    await Promise.allSettled(clusterNodes(cluster).map((n) => n.proc.exit(15_000)));
  }
  await bus.close();
  if (process.env.CLUSTER_CRON_DEBUG) for (const m of cluster.masters) for (const l of (m.proc.stdout() + m.proc.stderr()).split("\n")) if (/WARN|ERROR/.test(l) && !/no worker serves|missed fires skipped/.test(l)) console.error(m.id, l.slice(0, 300));
  // The last second's wakes are in; read every run fired in the window.
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const rows = await sql<{ id: string; schedule_time: Date; created_at: Date }[]>`SELECT id, schedule_time, created_at FROM workflow_instances
    WHERE schedule_time >= ${new Date(started)} AND schedule_time < ${new Date(started + windowMs)}`;
  // Whether the cluster kept up with the runs it was given: those of the window not yet ended.
  const [open] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM workflow_instances
    WHERE schedule_time >= ${new Date(started)} AND schedule_time < ${new Date(started + windowMs - 2000)} AND state NOT IN ('SUCCESS', 'FAILURE', 'STOP')`.finally(() => sql.end({ timeout: 5 }));
  const load = loadavg()[0]!;
  const lateness: number[] = [];
  let unwoken = 0;
  for (const r of rows) {
    const at = woken.get(Number(r.id));
    if (at === undefined) unwoken++;
    else lateness.push(at - new Date(r.schedule_time).getTime());
  }
  if (process.env.CLUSTER_CRON_DEBUG) {
    const bySecond = new Map<number, { l: number[]; c: number[] }>();
    for (const r of rows) {
      const t = new Date(r.schedule_time).getTime();
      const at = woken.get(Number(r.id));
      const b = bySecond.get(t) ?? { l: [], c: [] };
      bySecond.set(t, b);
      if (at !== undefined) b.l.push(at - t);
      b.c.push(new Date(r.created_at).getTime() - t);
    }
    for (const [t, b] of [...bySecond].sort((a, b) => a[0] - b[0])) console.error(`second ${(t - started) / 1000}: n=${b.l.length} woken min=${Math.min(...b.l)} max=${Math.max(...b.l)} created max=${Math.max(...b.c)}`);
  }
  const expected = Math.round((schedules * windowMs) / 60_000);
  const label = `cluster (${MASTERS} masters): ${schedules} schedules`;
  const row = (metric: string, unit: string, v: { value?: number; samples?: number[] }): BenchRow => ({ scenario: name, metric: `${label}: ${metric}`, unit, ...v });
  return [
    row("create schedules + workflows (setup, not timed by the target)", "ms", { value: setupMs }),
    row(`fires in ${windowMs / 1000}s (expected ${expected})`, "fires", { value: rows.length }),
    row("fires whose wake this subscriber did not see", "fires", { value: unwoken }),
    row("runs of the window (but its last 2 s) not ended at its end: the cluster falling behind", "runs", { value: Number(open!.n) }),
    row("load average (1 min) at the window's end", "load", { value: load }),
    row(`start-up: from the masters holding their shares to caught up (${CAUGHT_UP_SECONDS} s in a row within ${CAUGHT_UP_MS} ms${caughtUp ? "" : `; NOT caught up after ${MAX_CATCH_UP_MS / 1000} s, the window opened anyway`})`, "ms", { value: catchUpMs }),
    compared("cronLateness", name, "porpoise-cluster", { samples: lateness, note: `${MASTERS} masters + 1 worker + api on Postgres + Redis, ${schedules} schedules, committed + master woken (wake seen on Redis) − fire time, ${windowMs / 1000}s window` }),
  ];
}

/**
 * Waits until CAUGHT_UP_SECONDS whole seconds in a row had every fire committed within
 * CAUGHT_UP_MS of its fire time and every earlier run ended; false after MAX_CATCH_UP_MS.
 */
async function waitCaughtUp(url: string, schedules: number): Promise<boolean> {
  const perSecond = Math.floor(schedules / 60);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const deadline = Date.now() + MAX_CATCH_UP_MS;
  try {
    while (Date.now() < deadline) {
      await Bun.sleep(1000);
      // The last CAUGHT_UP_SECONDS whole seconds that are at least 1 s old (their fires are in).
      const to = Math.floor(Date.now() / 1000) * 1000 - 1000;
      const from = to - CAUGHT_UP_SECONDS * 1000;
      const [r] = await sql<{ fires: string; late: string; open: string }[]>`SELECT
          (SELECT count(*) FROM workflow_instances WHERE schedule_time >= ${new Date(from)} AND schedule_time < ${new Date(to)}) AS fires,
          (SELECT count(*) FROM workflow_instances WHERE schedule_time >= ${new Date(from)} AND schedule_time < ${new Date(to)}
             AND created_at > schedule_time + ${`${CAUGHT_UP_MS} milliseconds`}::interval) AS late,
          (SELECT count(*) FROM workflow_instances WHERE schedule_time < ${new Date(from)} AND state NOT IN ('SUCCESS', 'FAILURE', 'STOP')) AS open`;
      if (Number(r!.fires) >= perSecond * CAUGHT_UP_SECONDS && Number(r!.late) === 0 && Number(r!.open) === 0) return true;
    }
    return false;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) {
  const size = (process.argv[2] ?? "smoke") as BenchSize;
  const { summarize } = await import("./bench-types.ts");
  for (const row of await run({ size })) console.log(JSON.stringify(summarize(row)));
}
