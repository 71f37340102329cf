// Redis and Postgres faults at the size issue 10 names: 3 masters, 2 workers and the api, on a
// Postgres server and a redis-server of the test's own; 300 instances of the 10-task DAG of
// failover-workload.ts (3,000 shell tasks that sleep 50–450 ms, then write their effect to a
// ledger). One run takes the three faults in turn, each while runs are in flight:
//   - at a fifth of the effects, Redis FLUSHALL;
//   - at two fifths, Redis kill -9, started again (empty: no persistence) 2 s later;
//   - at three fifths, Postgres kill -9 of the postmaster, started again on the same data 3 s later.
// Checks: no node exits, every instance SUCCESS, every (instance, task) has its effect, and no
// effect twice (the faults take no worker away, so there is no failover to excuse one); after the
// Postgres restart every slot is owned again by a live master. One run instead of three keeps CI
// ~3 minutes shorter; outage-redis.test.ts and outage-postgres.test.ts run each fault alone,
// smaller, with their node-log checks and the `all --redis` shape.
//
//   ./node_modules/.bin/bun test --timeout 60000 test/cluster/faults-at-scale.test.ts

import { expect, test } from "bun:test";
import { DEFAULT_SLOT_COUNT } from "../../src/coordinator/coordinator.ts";
import { waitFor } from "../helpers/wait.ts";
import { expectAllAlive, nodeLines } from "./cluster-workload.ts";
import { duplicateKinds, missingEffects, ownPostgresCluster, startWorkload } from "./failover-workload.ts";

const INSTANCES = 300;
/** The outage tests' lease: a 3 s Postgres outage then costs the masters their slots, not the workers theirs. */
const LEASE_S = 5;
/** Per worker: 2 × 24 tasks in flight (failover.test.ts). */
const CLUSTER = { masters: 3, workers: 2, lease: LEASE_S, workerSlots: 24 } as const;
const RUN_MS = 300_000;

type OwnCluster = Awaited<ReturnType<typeof ownPostgresCluster>>;

/** kill -9 of a server of the test's own, started again `downMs` later. */
async function killAndStart(server: { kill(): Promise<void>; start(): Promise<void> }, downMs: number): Promise<void> {
  await server.kill();
  await Bun.sleep(downMs);
  await server.start();
}

const FAULTS: { name: string; at: number; inject(c: OwnCluster): Promise<void> }[] = [
  {
    name: "Redis FLUSHALL",
    at: 1 / 5,
    async inject(c) {
      const out = Bun.spawnSync(["redis-cli", "-u", c.redis.url, "FLUSHALL"]);
      expect(out.stdout.toString().trim()).toBe("OK");
    },
  },
  { name: "Redis kill -9 + restart", at: 2 / 5, inject: (c) => killAndStart(c.redis, 2000) },
  { name: "Postgres kill -9 + restart", at: 3 / 5, inject: (c) => killAndStart(c.pg, 3000) },
];

test("Redis FLUSHALL, Redis kill -9 + restart, Postgres kill -9 + restart in one run of 3 masters + 2 workers, 300 × 10 tasks: no node exits, nothing lost, all SUCCESS, 0 duplicates, slots owned again", async () => {
  await using c = await ownPostgresCluster("porpoise-faults-at-scale-", CLUSTER);
  await using w = await startWorkload(c, { instances: INSTANCES });
  const t0 = Date.now();
  const timeline: string[] = [];
  for (const f of FAULTS) {
    await waitFor(`${f.at * 100} % of the effects (before ${f.name})`, async () => w.ledger.count() >= w.total * f.at, 180_000, 100);
    timeline.push(`${f.name} at ${w.ledger.count()}/${w.total} effects, +${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await f.inject(c);
  }
  const lastFaultAt = Date.now();
  const states = await w.ended(RUN_MS, () => nodeLines(c, /./).join("\n"));
  expectAllAlive(c);
  const report = w.ledger.read();
  const attempts = await w.attempts();
  const byState: Record<string, number> = {};
  for (const a of attempts) byState[a.state] = (byState[a.state] ?? 0) + 1;
  const dup = duplicateKinds(w, attempts);
  // Every slot held again by a live master, on the database clock.
  const masters = c.masters.map((m) => m.id);
  const held = await waitFor("every slot owned again", async () => {
    const rows = await w.sql<{ owner: string }[]>`SELECT owner FROM slot_leases WHERE expires_at > now()`;
    return rows.length === DEFAULT_SLOT_COUNT && rows.every((r) => masters.includes(r.owner)) ? rows : null;
  }, 30_000, 200);
  console.log(
    `[faults at scale] 3 masters + 2 workers + api, ${INSTANCES} × 10 tasks; ${timeline.join("; ")}: instances ${JSON.stringify(states)}, ` +
      `attempts ${JSON.stringify(byState)}, ledger ${report.rows.length}/${w.total}, ${report.duplicates.length} duplicated ` +
      `(${dup.sameAttempt.length} one attempt twice, ${dup.afterFaultTolerance.length} after a failover, ${dup.other.length} other), ` +
      `${report.overlaps.length} overlapping; all ended ${((Date.now() - lastFaultAt) / 1000).toFixed(1)} s after the last fault; ` +
      `slots after: ${JSON.stringify(Object.fromEntries(masters.map((m) => [m, held.filter((r) => r.owner === m).length])))}`,
  );
  expect(states).toEqual({ SUCCESS: INSTANCES });
  expect(missingEffects(w)).toEqual([]);
  expect(report.duplicates).toEqual([]);
  expect(report.overlaps).toEqual([]);
}, RUN_MS + 240_000);
