// Master takeover after kill -9 (issue 10: ≤ 2 × lease): a cluster of 1 api + 2 masters + 1
// worker on Postgres + Redis with a 2 s lease (porpoise-cluster.ts). Once both masters hold
// slots (the fair share after the second joined), the one holding slot 0 is killed with
// SIGKILL; the figure is the time from the kill until slot_leases shows every slot held, on an
// unexpired lease, by the survivor. Polled every 10 ms from a Store on the cluster's database
// (docs/architecture.md §3.3: the dead master's leases must run out before another may take them,
// so the floor is what was left of the lease at the kill).
//
// At full size also once with the production lease (10 s) as a row of its own (not compared).
//
// Also runnable alone: `bun scripts/bench/cluster-takeover.ts [smoke|full]`.

import type { SlotLeaseRow } from "../../src/store/cluster-nodes.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { compared, type BenchRow, type BenchSize } from "./bench-types.ts";
import { startPorpoiseCluster } from "./porpoise-cluster.ts";

export const name = "cluster-takeover";
const LEASE_S = 2;
/** The cluster's slot count (config default). */
const SLOTS = 64;

const heldBy = (leases: SlotLeaseRow[], owner: string) => leases.filter((l) => l.owner === owner && l.expiresInMs !== null && l.expiresInMs > 0).length;

async function takeoverOnce(leaseS: number): Promise<number> {
  await using server = await startPorpoiseCluster({ masters: 2, workers: 1, dispatchCache: true }, { lease: leaseS });
  const c = server.cluster;
  const [m1, m2] = c.masters as [(typeof c.masters)[0], (typeof c.masters)[0]];
  // Steady state first: every slot leased, both masters holding some.
  await waitFor(
    "both masters hold slots",
    async () => {
      const leases = await c.store.cluster.slotLeases();
      const a = heldBy(leases, m1.id);
      const b = heldBy(leases, m2.id);
      return a > 0 && b > 0 && a + b === SLOTS;
    },
    60_000,
  );
  const slot0 = (await c.store.cluster.slotLeases()).find((l) => l.slot === 0)?.owner;
  const [victim, survivor] = slot0 === m2.id ? [m2, m1] : [m1, m2];
  const killedAt = performance.now();
  victim.signal("SIGKILL");
  for (;;) {
    const leases = await c.store.cluster.slotLeases();
    if (heldBy(leases, survivor.id) === SLOTS) return performance.now() - killedAt;
    if (performance.now() - killedAt > 60_000) throw new Error(`after 60 s ${survivor.id} holds ${heldBy(leases, survivor.id)} of ${SLOTS} slots`);
    await Bun.sleep(10);
  }
}

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const runs = opts.size === "full" ? 3 : 1;
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) samples.push(await takeoverOnce(LEASE_S));
  const rows: BenchRow[] = [
    compared("takeover", name, "porpoise-cluster", {
      samples,
      note: `kill -9 of a master holding slots → all ${SLOTS} slots leased by the other (slot_leases, 10 ms polls); lease ${LEASE_S} s, bound 2 × lease = ${2 * LEASE_S * 1000} ms`,
    }),
  ];
  if (opts.size === "full") {
    const lease = 10;
    rows.push({ scenario: name, system: "porpoise-cluster", metric: `master takeover after kill -9, lease ${lease} s`, unit: "ms", value: await takeoverOnce(lease), note: `bound 2 × lease = ${2 * lease * 1000} ms` });
  }
  return rows;
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
