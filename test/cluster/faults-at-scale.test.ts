// Redis and Postgres faults at the size issue 10 names: 3 masters, 2 workers and the api, on a
// Postgres server and a redis-server of the test's own; 300 instances of the 10-task DAG of
// failover-workload.ts (3,000 shell tasks that sleep 50–450 ms, then write their effect to a
// ledger). Once a fifth of the effects are in:
//   - Redis FLUSHALL;
//   - Redis kill -9, started again (empty: no persistence) 2 s later;
//   - Postgres kill -9 of the postmaster, started again on the same data 3 s later.
// Checks: no node exits, every instance SUCCESS, every (instance, task) has its effect, and no
// effect twice (the faults take no worker away, so there is no failover to excuse one); after the
// Postgres restart every slot is owned again. outage-redis.test.ts and outage-postgres.test.ts run
// the same faults smaller, with node logs and the `all --redis` shape.
//
//   ./node_modules/.bin/bun test --timeout 60000 test/cluster/faults-at-scale.test.ts

import { expect, test } from "bun:test";
import { DEFAULT_SLOT_COUNT } from "../../src/coordinator/coordinator.ts";
import { waitFor } from "../helpers/wait.ts";
import type { Cluster } from "./cluster-harness.ts";
import { expectAllAlive, nodeLines } from "./cluster-workload.ts";
import { duplicateKinds, missingEffects, ownPostgresCluster, startWorkload, type Workload } from "./failover-workload.ts";

const INSTANCES = 300;
/** The outage tests' lease: a 3 s Postgres outage then costs the masters their slots, not the workers theirs. */
const LEASE_S = 5;
/** Per worker: 2 × 24 tasks in flight (failover.test.ts). */
const CLUSTER = { masters: 3, workers: 2, lease: LEASE_S, workerSlots: 24 } as const;
const RUN_MS = 240_000;

type OwnCluster = Awaited<ReturnType<typeof ownPostgresCluster>>;

async function scenario(name: string, fault: (c: OwnCluster) => Promise<void>, after?: (c: OwnCluster, w: Workload) => Promise<void>): Promise<void> {
  await using c = await ownPostgresCluster(`porpoise-faults-${name.replace(/\W+/g, "-")}-`, CLUSTER);
  await using w = await startWorkload(c, { instances: INSTANCES });
  await waitFor("a fifth of the effects", async () => w.ledger.count() >= w.total / 5, 120_000, 100);
  const atFault = w.ledger.count();
  const faultAt = Date.now();
  await fault(c);
  const states = await w.ended(RUN_MS, () => nodeLines(c, /./).join("\n"));
  const endedMs = Date.now() - faultAt;
  expectAllAlive(c);
  const report = w.ledger.read();
  const attempts = await w.attempts();
  const byState: Record<string, number> = {};
  for (const a of attempts) byState[a.state] = (byState[a.state] ?? 0) + 1;
  const dup = duplicateKinds(w, attempts);
  console.log(
    `[faults at scale] ${name} at ${atFault}/${w.total} effects, 3 masters + 2 workers + api: instances ${JSON.stringify(states)}, ` +
      `attempts ${JSON.stringify(byState)}, ledger ${report.rows.length}/${w.total}, ${report.duplicates.length} duplicated ` +
      `(${dup.sameAttempt.length} one attempt twice, ${dup.afterFaultTolerance.length} after a failover, ${dup.other.length} other), ` +
      `${report.overlaps.length} overlapping; all ended ${(endedMs / 1000).toFixed(1)} s after the fault`,
  );
  expect(states).toEqual({ SUCCESS: INSTANCES });
  expect(missingEffects(w)).toEqual([]);
  expect(report.duplicates).toEqual([]);
  expect(report.overlaps).toEqual([]);
  await after?.(c, w);
}

const flushAll = async (c: Cluster) => {
  const out = Bun.spawnSync(["redis-cli", "-u", c.redis.url, "FLUSHALL"]);
  expect(out.stdout.toString().trim()).toBe("OK");
};

test("Redis FLUSHALL mid-run, 3 masters + 2 workers, 300 × 10 tasks: nothing lost, all SUCCESS, 0 duplicates", async () => {
  await scenario("Redis FLUSHALL", flushAll);
}, RUN_MS + 180_000);

test("Redis kill -9 and restart mid-run, 3 masters + 2 workers, 300 × 10 tasks: nothing lost, all SUCCESS, 0 duplicates", async () => {
  await scenario("Redis kill -9 + restart", async (c) => {
    await c.redis.kill();
    await Bun.sleep(2000);
    await c.redis.start();
  });
}, RUN_MS + 180_000);

test("Postgres kill -9 and restart mid-run, 3 masters + 2 workers, 300 × 10 tasks: no node exits or wedges, all SUCCESS, 0 duplicates, slots owned again", async () => {
  await scenario(
    "Postgres kill -9 + restart",
    async (c) => {
      await c.pg.kill();
      await Bun.sleep(3000);
      await c.pg.start();
    },
    async (c, w) => {
      // Every slot (64) held again by a live master, on the database clock.
      const masters = c.masters.map((m) => m.id);
      const held = await waitFor("every slot owned again", async () => {
        const rows = await w.sql<{ owner: string }[]>`SELECT owner FROM slot_leases WHERE expires_at > now()`;
        return rows.length === DEFAULT_SLOT_COUNT && rows.every((r) => masters.includes(r.owner)) ? rows : null;
      }, 30_000, 200);
      console.log(`[faults at scale] slots after the Postgres restart: ${JSON.stringify(Object.fromEntries(masters.map((m) => [m, held.filter((r) => r.owner === m).length])))}`);
    },
  );
}, RUN_MS + 180_000);
